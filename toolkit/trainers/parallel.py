"""ParallelTrainer: the env steps in this process; each agent acts and updates in its own process (skrl's API).

Per step the data never goes through pickle: observations, actions, rewards, dones and final observations sit
in tensors allocated once in shared memory (shared CUDA memory on a GPU) that both sides read and write in
place. What goes through each worker's pipe is a few bytes of command a step ("record_act": record the last
transition, update if a rollout is complete, act on the new observations), and, rarely,
the tracked losses, checkpoint requests and errors. Pipes rather than semaphores because they make failures
visible at once: a worker that dies closes its end (and its process sentinel fires), so the trainer raises
within a poll interval; a trainer that dies closes its end, so the worker's recv() ends and it exits, leaving no
orphan.
"""

from __future__ import annotations

import os
import signal
import traceback
import warnings
from dataclasses import dataclass
from multiprocessing.connection import wait

import gymnasium as gym
import torch
import torch.multiprocessing as mp

from ..config import check
from .base import TrainerBase, TrainerCfg

POLL_S = 0.5  # how often a waiting trainer checks that its workers are alive (a death is usually seen at once)


@dataclass
class ParallelTrainerCfg(TrainerCfg):
    worker_threads: int = 1  # torch threads of each agent's process (the env's process keeps its own setting)
    start_method: str = "spawn"  # how worker processes start: spawn (safe with Warp, JAX and CUDA) or forkserver


class WorkerError(RuntimeError):
    """An agent's worker process raised or died; names the agent index and carries the worker's error."""

    def __init__(self, index: int, message: str):
        super().__init__(f"ParallelTrainer: agent {index}'s worker {message}")
        self.index = index


class ParallelTrainer(TrainerBase):
    """train() and eval() (TrainerBase) with each agent in its own process.

    The workers start at the first train() or eval() and live until close() (or the interpreter's exit), so a
    second train() continues with the same optimizer state. While they live, the agents' parameters and
    preprocessor statistics in this process share memory with the workers' (torch moves them to shared memory
    when it hands the agents over); checkpoints are written by the workers, with the optimizer state.

    Arguments as SequentialTrainer's (torch agents on an env wrapped for torch); cfg: a ParallelTrainerCfg
    (worker_threads, start_method) or a mapping of its keys. train() and eval() return a TrainStats; a worker's
    failure is a WorkerError naming the agent, after every worker was ended.
    """

    cfg_class = ParallelTrainerCfg
    preemption_signals = (*TrainerBase.preemption_signals, signal.SIGINT)  # Ctrl-C: checkpoint, stop every process

    def __init__(self, *, env, agents, scopes: list[int] | None = None, cfg=None):
        self.processes: list = []
        self._pipes: list = []
        self._buffers: list[dict[str, torch.Tensor]] = []
        self._pending: tuple | None = None  # a transition in the shared tensors that the workers have not recorded
        self._pending_next = None  # its next observations (the env's tensor), to recognise the next act's input
        super().__init__(env=env, agents=agents, scopes=scopes, cfg=cfg)
        check(
            self.framework == "torch",
            "trainer",
            "env.framework",
            self.framework,
            "ParallelTrainer shares torch tensors with its workers; wrap the env with framework='torch'",
        )
        check(self.cfg.worker_threads >= 1, "trainer", "worker_threads", self.cfg.worker_threads, "must be >= 1")
        check(
            self.cfg.start_method in ("spawn", "forkserver"),
            "trainer",
            "start_method",
            self.cfg.start_method,
            "choose spawn or forkserver (fork is unsafe once Warp, JAX or CUDA run in this process)",
        )

    # ---- workers ----
    def start(self) -> None:
        """Allocate the shared tensors and start one process per agent (train() and eval() call it)."""
        if self.processes:
            return
        if self.observations is None:
            self.observations, _ = self.env.reset()
            self.states = self._env_states()
        observations = self.observations
        state_space = getattr(self.env, "state_space", None)  # the critic's states travel beside the observations
        device = observations.device
        action_space = self.agents[0].action_space
        discrete = isinstance(action_space, gym.spaces.Discrete)
        action_shape, action_dtype = (
            (() if discrete else action_space.shape),
            (torch.long if discrete else torch.float32),
        )
        context = mp.get_context(self.cfg.start_method)
        try:
            for index, (agent, scope) in enumerate(zip(self.agents, self.scopes)):
                worlds = scope.stop - scope.start
                buffers = {
                    "observations": torch.zeros(
                        (worlds, *observations.shape[1:]), dtype=observations.dtype, device=device
                    ),
                    "next_observations": torch.zeros(
                        (worlds, *observations.shape[1:]), dtype=observations.dtype, device=device
                    ),
                    "final_obs": torch.zeros(
                        (worlds, *observations.shape[1:]), dtype=observations.dtype, device=device
                    ),
                    "actions": torch.zeros((worlds, *action_shape), dtype=action_dtype, device=device),
                    "rewards": torch.zeros((worlds,), dtype=torch.float32, device=device),
                    "terminated": torch.zeros((worlds,), dtype=torch.bool, device=device),
                    "truncated": torch.zeros((worlds,), dtype=torch.bool, device=device),
                }
                if state_space is not None:
                    for name in ("states", "next_states", "final_states"):
                        buffers[name] = torch.zeros((worlds, *state_space.shape), dtype=torch.float32, device=device)
                for tensor in buffers.values():
                    tensor.share_memory_()  # CPU: into shared memory; CUDA tensors are shared through IPC handles
                ours, theirs = context.Pipe(duplex=True)
                process = context.Process(
                    target=_worker,
                    name=f"agent{index}",
                    daemon=True,
                    args=(index, agent, buffers, theirs, self.cfg.worker_threads),
                )
                process.start()
                theirs.close()  # the worker holds the only other end: its death reads as EOF here
                self.processes.append(process)
                self._pipes.append(ours)
                self._buffers.append(buffers)
            self._call_all("ready")
        except BaseException:
            self.close()
            raise

    def close(self, graceful: bool = True) -> None:
        """End the workers: ask them to stop (graceful), then kill any still alive; never leaves one behind."""
        for pipe in self._pipes if graceful else ():
            try:
                pipe.send(("close",))
            except (OSError, ValueError):
                pass
        for process in self.processes:
            process.join(timeout=5 if graceful else 0)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pipe in self._pipes:
            pipe.close()
        self.processes, self._pipes, self._buffers = [], [], []
        self._pending = self._pending_next = None

    def _close_env(self) -> None:
        self.close()
        super()._close_env()

    def _send(self, index: int, *message) -> None:
        try:
            self._pipes[index].send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            self._fail(index, f"exited (exit code {self.processes[index].exitcode})")

    def _receive(self, indices: list[int]) -> list:
        """Each listed worker's reply, raising WorkerError (after ending every worker) if one failed or died."""
        replies, waiting = {}, set(indices)
        while waiting:
            sources = {self._pipes[i]: i for i in waiting}
            sources.update({self.processes[i].sentinel: i for i in waiting})
            for ready in wait(list(sources), timeout=POLL_S):
                index = sources[ready]
                if index not in waiting:
                    continue
                if ready is self._pipes[index] or self._pipes[index].poll():
                    try:
                        status, payload = self._pipes[index].recv()
                    except (EOFError, OSError):
                        self.processes[index].join(timeout=1)
                        self._fail(index, f"died (exit code {self.processes[index].exitcode})")
                    if status == "error":
                        self._fail(index, f"raised:\n{payload}")
                    replies[index] = payload
                    waiting.discard(index)
                else:  # its process ended without a reply
                    self.processes[index].join(timeout=1)
                    self._fail(index, f"died (exit code {self.processes[index].exitcode})")
        return [replies[i] for i in indices]

    def _fail(self, index: int, message: str):
        self.close(graceful=False)
        raise WorkerError(index, message)

    def _call_all(self, *message) -> list:
        for index in range(len(self.processes)):
            self._send(index, *message)
        return self._receive(list(range(len(self.processes))))

    def _call(self, index: int, *message):
        self._send(index, *message)
        return self._receive([index])[0]

    def _synchronize(self) -> None:
        if self._buffers and self._buffers[0]["actions"].is_cuda:
            torch.cuda.synchronize()  # the other process reads these tensors on its own stream

    # ---- the TrainerBase hooks ----
    def train(self, stop=None):
        """TrainerBase.train in the workers (started here if need be); every recorded transition is applied before
        it returns."""
        self.start()
        try:
            stats = super().train(stop)
            self._flush()  # the last step's transition (and the update it may complete) is done before returning
            return stats
        except BaseException:
            self.close(graceful=False)
            raise

    def eval(self, stop=None, timesteps: int | None = None):
        """TrainerBase.eval in the workers (started here if need be)."""
        self.start()
        try:
            stats = super().eval(stop, timesteps)
            self._flush()
            return stats
        except BaseException:
            self.close(graceful=False)
            raise

    def _set_training_mode(self, enabled: bool) -> None:
        if self.processes:
            self._flush()
            self._call_all("training_mode", enabled)

    def _act_all(self, observations, states, timestep: int, timesteps: int, stochastic: bool):
        if self._pending is not None and observations is self._pending_next:
            # one round trip a step: record the last transition (its next observations are these) and act
            self._call_all("record_act", *self._pending, timestep, timesteps, stochastic)
            self._pending = self._pending_next = None
        else:
            self._flush()
            for buffers, scope in zip(self._buffers, self.scopes):
                buffers["observations"].copy_(observations[scope])
                if "states" in buffers:
                    buffers["states"].copy_(states[scope])
            self._synchronize()
            self._call_all("act", timestep, timesteps, stochastic)
        return torch.cat([buffers["actions"] for buffers in self._buffers])

    def _record_all(self, transition: dict, timestep: int, timesteps: int, training: bool) -> None:
        """Fill the shared tensors; the workers record them with the next act (or at the next flush)."""
        infos = transition["infos"]
        final = infos.get("final_obs") if isinstance(infos, dict) else None
        for buffers, scope in zip(self._buffers, self.scopes):
            for name in ("next_observations", "rewards", "terminated", "truncated"):
                buffers[name].copy_(transition[name][scope])
            if final is not None:
                buffers["final_obs"].copy_(final[scope])
            if "states" in buffers:
                buffers["next_states"].copy_(transition["next_states"][scope])
                buffers["final_states"].copy_(infos.get("final_states", transition["next_states"])[scope])
        self._synchronize()
        self._pending = (timestep, timesteps, training, final is not None)
        self._pending_next = transition["next_observations"]

    def _flush(self) -> None:
        """Have the workers record the transition still waiting in the shared tensors (before any other request)."""
        if self._pending is not None:
            pending, self._pending, self._pending_next = self._pending, None, None
            self._call_all("record", *pending)

    def _save_agent(self, index: int, path: str, extra: dict) -> None:
        self._flush()
        self._call(index, "save", path, extra)

    def _load_agents(self, paths: list[str]) -> list[dict]:
        self.start()
        self._flush()
        return [self._call(index, "load", path) for index, path in enumerate(paths)]

    def _tracked_means(self) -> list[dict]:
        if not self.processes:
            return super()._tracked_means()
        self._flush()
        return self._call_all("tracked_means")


def _worker(index: int, agent, buffers: dict, pipe, threads: int) -> None:
    """One agent's process: answer the trainer's commands until it says close or its pipe closes."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)  # the trainer decides when to stop, and checkpoints first
    torch.set_num_threads(threads)
    # torch's LR schedulers wrap optimizer.step to warn about call order; pickling drops the wrapper, not the order
    warnings.filterwarnings("ignore", message=r"Seems like `optimizer.step\(\)` has been overridden")
    cuda = buffers["actions"].is_cuda
    while True:
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            return  # the trainer is gone: end rather than linger as an orphan
        command, args = message[0], message[1:]
        try:
            reply = None
            if command == "close":
                pipe.send(("ok", None))
                return
            if command in ("record", "record_act"):
                timestep, timesteps, training, has_final_obs = args[:4]
                _record(agent, buffers, timestep, timesteps, training, has_final_obs)
                if command == "record_act":
                    buffers["observations"].copy_(buffers["next_observations"])
                    if "states" in buffers:
                        buffers["states"].copy_(buffers["next_states"])
                    _act(agent, buffers, *args[4:])
            elif command == "act":
                _act(agent, buffers, *args)
            elif command == "training_mode":
                agent.enable_training_mode(args[0], apply_to_models=True)
            elif command == "tracked_means":
                reply = {tag: sum(values) / len(values) for tag, values in agent.tracking_data.items() if values}
                agent.tracking_data.clear()
            elif command == "save":
                path, extra = args
                agent.save(path, extra=extra)
            elif command == "load":
                reply = agent.load(args[0])
            elif command == "ready":
                reply = os.getpid()
            else:
                raise ValueError(f"unknown command {command!r}")
            if cuda:
                torch.cuda.synchronize()
            pipe.send(("ok", reply))
        except BaseException:  # report anything, then end: the trainer raises and closes every worker
            try:
                pipe.send(("error", traceback.format_exc()))
            except OSError:
                pass
            return


def _act(agent, buffers: dict, timestep: int, timesteps: int, stochastic: bool) -> None:
    agent.pre_interaction(timestep=timestep, timesteps=timesteps)
    sampled, outputs = agent.act(buffers["observations"], buffers.get("states"), timestep=timestep, timesteps=timesteps)
    buffers["actions"].copy_(sampled if stochastic else outputs["mean_actions"])


def _record(agent, buffers: dict, timestep: int, timesteps: int, training: bool, has_final_obs: bool) -> None:
    # next_observations (next_states): a copy, since an agent may keep it until its next update
    infos = {"final_obs": buffers["final_obs"]} if has_final_obs else {}
    asymmetric = "states" in buffers
    if asymmetric:
        infos["final_states"] = buffers["final_states"]
    agent.record_transition(
        observations=buffers["observations"],
        states=buffers.get("states"),
        actions=buffers["actions"],
        rewards=buffers["rewards"],
        next_observations=buffers["next_observations"].clone(),
        next_states=buffers["next_states"].clone() if asymmetric else None,
        terminated=buffers["terminated"],
        truncated=buffers["truncated"],
        infos=infos,
        timestep=timestep,
        timesteps=timesteps,
    )
    if training:
        agent.post_interaction(timestep=timestep, timesteps=timesteps)


__all__ = ["ParallelTrainer", "ParallelTrainerCfg", "WorkerError"]
