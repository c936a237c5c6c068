"""The compiled training loop: MJX worlds and JAX PPO agents, one program per rollout and one per update.

A rollout of `rollouts` steps is one `lax.scan` over (the agent's `act_step`, `functional_step` of the env, its
`record_step`), and the update is its `update_step`; Python calls each once per iteration instead of once per env
step. These are the agents' public pure functions (toolkit.jax.ppo), the ones the step-by-step path jits one by
one, so both paths compute the same thing (a test holds them together).

Recurrent agents (PPO_RNN) carry their worlds' recurrent states (the training state's "rnn_states", None for PPO)
through the scan, zeroed where an episode ends, exactly as their step-by-step `record_transition` does.

K agents of one configuration on equal slices of the worlds (`--num-seeds K`) are vmapped, as PureJaxRL does with
seeds: the physics steps all K x N worlds as one batch, and each agent acts, records and updates on its own N.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.sharding import SingleDeviceSharding

from envs.convert import jax_device


def unsupported_reason(env, agents: list, scopes: list[slice]) -> str | None:
    """Why this env and these agents (all of one class registered with this path: toolkit.trainers.compiled_path
    checks that) cannot take the compiled path (None: they can)."""
    raw = getattr(env, "unwrapped", env)
    if getattr(env, "framework", None) != "jax" or not hasattr(raw, "functional_step") or not hasattr(raw, "state"):
        return "the compiled path needs an MJX env seen as JAX arrays (tasks.make(..., 'mjx') with framework jax)"
    first = agents[0]
    if jax.process_count() > 1:
        return "a distributed run (several JAX processes) updates step by step, on the global batch"
    if first.cfg.random_timesteps > 0:
        return "agent.random_timesteps > 0 samples actions on the host; the compiled path does not"
    if any(scope.stop - scope.start != scopes[0].stop - scopes[0].start for scope in scopes):
        return "several agents take the compiled path only on equal scopes"
    shapes = jax.tree.map(jnp.shape, first.params)
    for agent in agents[1:]:
        if (
            dataclasses.replace(agent.cfg, experiment=first.cfg.experiment) != first.cfg
            or jax.tree.map(jnp.shape, agent.params) != shapes
        ):
            return "several agents take the compiled path (vmapped) only with the same configuration and networks"
    return None


def compiled_is_faster(env, agents: list) -> bool:
    """Where the compiled path is the default. Measured on a 2-core CPU (cartpole, 1024 worlds): one agent trains
    faster step by step (125-135k vs 98-102k env-steps/s: XLA runs the scan's body with less parallelism than
    separate calls), while K vmapped seeds train faster compiled (4 x 256 worlds: 86k vs 69k), as they replace K
    calls per step by one. On an accelerator a step-by-step call costs a launch per op, the case PureJaxRL and
    Brax compile for."""
    return len(agents) > 1 or not str(getattr(env, "device", "cpu")).startswith("cpu")


class CompiledTraining:
    """The two programs of one training iteration for these agents on this env, and the loop step that calls them.

    Registered for toolkit.jax's PPO and PPO_RNN (toolkit/jax/agents.py); the trainer asks the two static methods
    below whether to take it (toolkit/trainers/compiled_path.py)."""

    unsupported_reason = staticmethod(unsupported_reason)
    is_faster = staticmethod(compiled_is_faster)

    def __init__(self, env, agents: list):
        self.env = getattr(env, "unwrapped", env)
        self.agents = agents
        self.num_agents = len(agents)
        self.worlds = self.env.num_envs // self.num_agents
        self.rollouts = agents[0].cfg.rollouts
        # one placement, the env's device, for every input and output: jit compiles a program per placement of its
        # inputs (committed to a device or not), and a rollout program holds the env's step (minutes to compile
        # for a legged robot). The env and the agents commit their arrays; pinning makes a stray one a transfer
        self._device = jax_device(self.env.device)
        pinned = {
            "in_shardings": SingleDeviceSharding(self._device),
            "out_shardings": SingleDeviceSharding(self._device),
        }
        self._rollout = jax.jit(self._rollout_impl, donate_argnums=(1,), **pinned)
        self._update = jax.jit(self._update_all, **pinned)
        self._stack = jax.jit(lambda trees: jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees), **pinned)
        self._unstacked = jax.jit(lambda trees: tuple(zip(*(self._unstack(tree) for tree in trees))), **pinned)
        self.states = (
            None  # the env's states beside the observations the last iteration returned (None: no state space)
        )

    def _over_agents(self, function):
        """`function` mapped over the agents' leading axis: vmap for several; for one, a plain call on the squeezed
        arrays (XLA's CPU code for a vmapped, batched matmul is slower than for a plain one)."""
        if self.num_agents > 1:
            return jax.vmap(function)

        def single(*args):
            return jax.tree.map(lambda x: x[None], function(*jax.tree.map(lambda x: x[0], args)))

        return single

    def _per_agent(self, x):
        return x.reshape(self.num_agents, self.worlds, *x.shape[1:])

    def _rollout_impl(self, state: dict, env_state, observations, timestep, timesteps):
        """`rollouts` steps of every agent and world: (state, env_state, observations, rollout (K, T, N, ...),
        episode returns, lengths and end flags (K, T, N)). `observations` are the agents' inputs (the env's states
        follow the observations for an asymmetric critic, see PPO.inputs)."""
        agent = self.agents[0]
        act = self._over_agents(
            lambda params, preprocessors, obs, key, rnn_states: agent.act_step(
                params, preprocessors, obs, key, True, rnn_states
            )
        )
        record = self._over_agents(agent.record_step)
        shaper = agent.cfg.rewards_shaper

        def step(carry, offset):
            state, env_state, observations = carry
            keys = jax.vmap(jax.random.split)(state["key"])
            acted = act(
                state["params"], state["preprocessors"], self._per_agent(observations), keys[:, 1], state["rnn_states"]
            )
            actions = acted.actions
            env_state, (next_observations, rewards, terminated, truncated, info) = self.env.functional_step(
                env_state, actions.reshape(-1, *actions.shape[2:])
            )
            next_observations = agent.inputs(next_observations, info.get("states"))
            final_observations = agent.inputs(info["final_obs"], info.get("final_states"))
            rewards = rewards.astype(jnp.float32)
            if shaper is not None:
                rewards = shaper(rewards, timestep + offset, timesteps)
            samples, rnn_states = record(
                state["params"],
                acted.preprocessors,
                acted.samples,
                actions,
                self._per_agent(rewards),
                self._per_agent(terminated),
                self._per_agent(truncated),
                self._per_agent(final_observations),
                acted.next_rnn_states,
            )
            state = {**state, "preprocessors": acted.preprocessors, "key": keys[:, 0], "rnn_states": rnn_states}
            episodes = {
                "r": self._per_agent(info["episode"]["r"]),
                "l": self._per_agent(info["episode"]["l"]),
                "ended": self._per_agent(info["_episode"]),
            }
            return (state, env_state, next_observations), (samples, episodes, info.get("log", {}))

        (state, env_state, observations), (rollout, episodes, env_log) = jax.lax.scan(
            step, (state, env_state, observations), jnp.arange(self.rollouts)
        )
        agents_first = lambda x: jnp.moveaxis(x, 1, 0)  # noqa: E731  (T, K, ...) -> (K, T, ...)
        rollout = jax.tree.map(agents_first, rollout)
        log_sums = {name: values.sum() for name, values in env_log.items()}
        return state, env_state, observations, rollout, jax.tree.map(agents_first, episodes), log_sums

    def _update_all(self, state: dict, opt_state, rollout, observations):
        """Every agent's update on its rollout (keys split on the device): (state, opt_state, stats). The update
        values the last observations with the recurrent states the worlds carry on with (None for PPO)."""
        keys = jax.vmap(jax.random.split)(state["key"])
        params, opt_state, preprocessors, stats = self._over_agents(self.agents[0].update_step)(
            state["params"],
            opt_state,
            state["preprocessors"],
            rollout,
            self._per_agent(observations),
            state["rnn_states"],
            keys[:, 1],
        )
        return {**state, "params": params, "preprocessors": preprocessors, "key": keys[:, 0]}, opt_state, stats

    def _unstack(self, tree):
        """The agents' leading axis as a tuple of K trees (one program: eager indexing would upload each index)."""
        return tuple(jax.tree.map(lambda leaf: leaf[index], tree) for index in range(self.num_agents))

    def iteration(
        self, observations, timestep: int, timesteps: int, episode_stats: list, env_log=None, states=None
    ) -> jax.Array:
        """Collect one rollout and update every agent on it; returns the worlds' observations after it (and keeps
        their states, for an env with a state space, in `self.states`).

        Nothing here uploads implicitly from the host (the step counters go up explicitly, 8 bytes), so the
        iteration runs under `jax.transfer_guard_host_to_device("disallow")`; the one read back is the losses in
        track_update."""
        state = self._stack(tuple(agent.training_state() for agent in self.agents))
        opt_state = state.pop("opt_state")  # acting does not need it
        clock = jax.device_put((timestep, timesteps), self._device)
        inputs = self.agents[0].inputs(observations, states)
        state, self.env.state, inputs, rollout, episodes, log_sums = self._rollout(
            state, self.env.state, inputs, *clock
        )
        observations, self.states = self.agents[0].split_inputs(inputs)
        if env_log is not None:
            env_log.record(log_sums, steps=self.rollouts)
        stats = None
        if timestep + self.rollouts - 1 >= self.agents[0].cfg.learning_starts:
            state, opt_state, stats = self._update(state, opt_state, rollout, inputs)
        state["opt_state"] = opt_state
        for agent, stats_of_episodes, (agent_state, agent_stats, agent_episodes) in zip(
            self.agents, episode_stats, self._unstacked((state, stats, episodes))
        ):
            agent.set_training_state(agent_state)
            if stats is not None:
                agent.track_update(agent_stats)
            stats_of_episodes.record({"r": agent_episodes["r"], "l": agent_episodes["l"]}, agent_episodes["ended"])
        return observations
