"""Distribution is explicit: each agent reduces through its own reducer (a no-op in one process) at named points of
its update, `agent.distribute(reducer)` is the one way to give it another, and nothing in toolkit/ assigns over
another object's methods or private attributes."""

import ast
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from toolkit.distributed import Cluster
from toolkit.torch.distributed import RankReducer
from toolkit.torch.reducers import LocalReducer as TorchLocalReducer

ROOT = Path(__file__).resolve().parents[1]


class CountingTorchReducer(TorchLocalReducer):
    """The one-process reducer, counting the calls of each method."""

    def __init__(self):
        self.calls = Counter()

    def broadcast_module(self, module):
        self.calls["broadcast_module"] += module is not None

    def batch_moments(self, x):
        self.calls["batch_moments"] += 1
        return super().batch_moments(x)

    def standardize(self, x, epsilon=1e-8):
        self.calls["standardize"] += 1
        return super().standardize(x, epsilon)

    def mean(self, value):
        self.calls["mean"] += 1
        return value

    def average_gradients(self, parameters):
        self.calls["average_gradients"] += 1


def _torch_agent():
    from toolkit.torch import RunningStandardScaler

    from .test_ppo import _agent

    torch.manual_seed(0)
    cfg = {"observation_preprocessor": RunningStandardScaler, "value_preprocessor": RunningStandardScaler}
    return _agent({**cfg, "learning_epochs": 2, "mini_batches": 2})


def _collect(agent, array, steps=4, worlds=3):
    rng = np.random.default_rng(0)
    for step in range(steps):
        obs = array(rng.normal(size=(worlds, 3)).astype(np.float32))
        actions, _ = agent.act(obs, None, timestep=step, timesteps=steps)
        agent.record_transition(
            observations=obs,
            states=None,
            actions=actions,
            rewards=array(rng.normal(size=worlds).astype(np.float32)),
            next_observations=obs,
            next_states=None,
            terminated=array(np.zeros(worlds, bool)),
            truncated=array(np.zeros(worlds, bool)),
            infos={},
            timestep=step,
            timesteps=steps,
        )
        agent.post_interaction(timestep=step, timesteps=steps)


def test_torch_ppo_reduces_gradients_statistics_advantages_and_kl_through_its_reducer():
    plain, counted = _torch_agent(), _torch_agent()
    assert type(plain.reducer) is TorchLocalReducer  # one process: a no-op
    reducer = CountingTorchReducer()
    counted.distribute(reducer)
    assert reducer.calls["broadcast_module"] == 4  # policy, value, observation and value preprocessors
    for agent in (plain, counted):
        torch.manual_seed(1)
        _collect(agent, torch.from_numpy)
    minibatches = 2 * 2
    assert reducer.calls == {
        "broadcast_module": 4,
        "batch_moments": 4 + 1,  # the observations of each act(), the returns of the update
        "standardize": 1,  # the advantages
        "mean": minibatches,  # each minibatch's KL
        "average_gradients": minibatches,
    }
    for a, b in zip(plain.policy.parameters(), counted.policy.parameters()):
        assert torch.equal(a, b)  # the same update: the reducer is where it reduces, not what it computes


class CountingJaxReducer:
    """The JAX one-process reducer, counting the calls of each method."""

    def __init__(self):
        from toolkit.jax.reducers import LocalReducer

        self.local, self.calls = LocalReducer(), Counter()

    def __getattr__(self, name):
        method = getattr(self.local, name)

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


def test_jax_ppo_merges_statistics_and_compiles_its_update_through_its_reducer():
    import jax.numpy as jnp

    from toolkit.jax.reducers import LocalReducer

    from .test_jax_agent import _agent

    plain, counted = _agent(), _agent()
    assert type(plain.reducer) is LocalReducer
    reducer = CountingJaxReducer()
    counted.distribute(reducer)
    assert reducer.calls == {"start": 1, "compile_update": 1}
    for agent in (plain, counted):
        _collect(agent, jnp.asarray)
    assert reducer.calls == {"start": 1, "compile_update": 1, "merge_statistics": 1, "layout_batch": 1}
    for a, b in zip(jax_leaves(plain.params), jax_leaves(counted.params)):
        np.testing.assert_array_equal(a, b)


def jax_leaves(tree):
    import jax

    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_a_cluster_hands_each_agent_its_reducer_and_the_trainer_itself():
    agent = _torch_agent()
    trainer = SimpleNamespace(agents=[agent])
    Cluster("torch").follow(trainer)  # one process: nothing changes
    assert type(agent.reducer) is TorchLocalReducer and not hasattr(trainer, "cluster")
    cluster = Cluster("torch", rank=1, world_size=2)
    cluster.follow(trainer)  # outside a process group the collectives are no-ops: only who calls them is checked
    assert isinstance(agent.reducer, RankReducer) and trainer.cluster is cluster
    assert all(isinstance(p.reducer, RankReducer) for p in (agent._observation_preprocessor, agent._value_preprocessor))


def test_nothing_in_toolkit_assigns_over_another_objects_methods_or_private_attributes():
    offences = []
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if not isinstance(element, ast.Attribute):
                        continue
                    owner = element.value
                    if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                        continue
                    if element.attr.startswith("_") or isinstance(node.value, ast.Lambda):
                        offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(element)}")
    assert offences == []
