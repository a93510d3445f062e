"""Tests of ninjarl.models: the architecture registry, NinjaExtractor under SB3 PPO, running
normalisation, image scaling, graph layers, save/load and frame stacking."""
from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3 import PPO

from ninjarl.env import EnvConfig, FrameStackVecEnv, NinjaVecEnv
from ninjarl.models import (
    ARCHITECTURES,
    GRAPH_KEYS,
    NinjaExtractor,
    RunningNorm,
    get_architecture,
    policy_kwargs,
)
from ninjarl.models.extractors import ImageEncoder, VectorEncoder
from ninjarl.models.graph import AttentionConv, MeanConv, flatten_graph, masked_mean_max

from conftest import MAPS

LEVEL = str(MAPS / "test" / "simple-walk")
#: for architectures reading ``hazards``: simple-walk has none, so that branch would see zeros
MINEFIELD = str(MAPS / "test" / "minefield")
NAMES = list(ARCHITECTURES)


def make_model(arch_name: str, stack: int = 0, **overrides) -> PPO:
    arch = get_architecture(arch_name)
    level = MINEFIELD if "hazards" in arch.observation_keys else LEVEL
    venv = NinjaVecEnv([level], num_envs=2, config=arch.env_config(), seed=0)
    if stack:
        venv = FrameStackVecEnv(venv, ["player_frame", "game_state"], stack)
    return PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs(arch, **overrides),
               n_steps=8, batch_size=16, device="cpu", seed=0)


def collect(model: PPO, steps: int = 8) -> dict[str, np.ndarray]:
    """Observations (as the policy's env returns them, images channels-first) of `steps`
    random steps in every env, concatenated along the batch."""
    env = model.get_env()
    rng = np.random.default_rng(0)
    batches = [env.reset()]
    for _ in range(steps - 1):
        obs, *_ = env.step(rng.integers(0, 6, env.num_envs))
        batches.append(obs)
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def norm_buffers(extractor: NinjaExtractor) -> dict[str, torch.Tensor]:
    return {f"{key}.{name}": buf.clone() for key, norm in extractor.running_norms().items()
            for name, buf in norm.named_buffers()}


# ---- registry and policy kwargs ------------------------------------------------------------------

def test_registry_contents():
    assert {"mlp_baseline", "vision_free", "local_view", "gcn", "gat"} <= set(ARCHITECTURES)
    assert ARCHITECTURES["vision_free"].observation_keys == ("game_state", "reachability")
    assert ARCHITECTURES["gat"].space_keys == GRAPH_KEYS + ("game_state", "reachability")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ARCHITECTURES["gcn"].graph_hidden = 1          # type: ignore[misc]


def test_unknown_architecture():
    with pytest.raises(ValueError, match="valid names: .*vision_free"):
        get_architecture("resnet9000")
    with pytest.raises(ValueError, match="unknown architecture"):
        policy_kwargs("resnet9000")


def test_policy_kwargs():
    kw = policy_kwargs("gcn")
    assert kw["features_extractor_class"] is NinjaExtractor
    assert kw["features_extractor_kwargs"] == {"architecture": "gcn"}
    assert kw["normalize_images"] is False and kw["share_features_extractor"] is True
    assert kw["net_arch"] == {"pi": [64, 64], "vf": [64, 64]}
    kw = policy_kwargs(ARCHITECTURES["gcn"], graph_hidden=16, net_arch=(32,), ortho_init=False)
    assert kw["features_extractor_kwargs"] == {"architecture": "gcn", "graph_hidden": 16}
    assert kw["net_arch"] == {"pi": [32], "vf": [32]} and kw["ortho_init"] is False


def test_a_global_view_at_another_scale_than_the_architectures_is_refused():
    arch = ARCHITECTURES["mlp_fast"]
    venv = NinjaVecEnv([LEVEL], num_envs=1, config=arch.env_config(global_view_scale=6))
    with pytest.raises(ValueError, match=r"'mlp_fast' reads the global view at scale 12 "
                                         r"\(50x88\), the observation space's is 100x176"):
        NinjaExtractor(venv.observation_space, arch)


def test_missing_and_unused_keys():
    venv = NinjaVecEnv([LEVEL], num_envs=1, config=EnvConfig(
        observations=("player_frame", "global_view", "game_state", "reachability")))
    with pytest.raises(ValueError, match=r"needs observation keys \['graph_node_features'"):
        NinjaExtractor(venv.observation_space, "gat")
    extractor = NinjaExtractor(venv.observation_space, "vision_free")   # images ignored
    assert list(extractor.branches) == ["game_state", "reachability"]
    with pytest.raises(ValueError, match="unknown size overrides"):
        NinjaExtractor(venv.observation_space, "vision_free", cnn_width=3)


# ---- every architecture under PPO ----------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_parameters_optimised_and_all_get_gradients(name):
    model = make_model(name)
    policy = model.policy
    in_optimizer = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    params = dict(policy.named_parameters())
    assert params and all(id(p) in in_optimizer for p in params.values())

    obs, _ = policy.obs_to_tensor(collect(model))
    policy.set_training_mode(True)
    actions = torch.randint(0, 6, (obs["game_state"].shape[0],), generator=torch.Generator().manual_seed(0))
    values, log_prob, _ = policy.evaluate_actions(obs, actions)
    policy.optimizer.zero_grad()
    (log_prob.sum() + values.sum()).backward()
    no_grad = [n for n, p in params.items() if p.grad is None or not torch.any(p.grad != 0)]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("name", NAMES)
def test_normalisation_buffers_update_only_in_train_mode(name):
    model = make_model(name)
    policy, extractor = model.policy, model.policy.features_extractor
    state = policy.state_dict()
    for key in extractor.running_norms():
        for buf in ("mean", "var", "count"):
            assert f"features_extractor.branches.{key}.norm.{buf}" in state
    obs, _ = policy.obs_to_tensor(collect(model))
    before = norm_buffers(extractor)
    policy.set_training_mode(False)
    with torch.no_grad():
        policy(obs)
        policy.predict_values(obs)
    assert all(torch.equal(before[k], v) for k, v in norm_buffers(extractor).items())
    policy.set_training_mode(True)
    policy.evaluate_actions(obs, torch.zeros(obs["game_state"].shape[0], dtype=torch.long))
    after = norm_buffers(extractor)
    for key in extractor.running_norms():
        assert after[f"{key}.count"] > before[f"{key}.count"]
        assert not torch.equal(after[f"{key}.mean"], before[f"{key}.mean"])


@pytest.mark.parametrize("name", [n for n in NAMES if {"player_frame", "global_view"}
                                  & set(ARCHITECTURES[n].observation_keys)])
def test_images_scaled_exactly_once(name):
    model = make_model(name)
    policy = model.policy
    # white pixels (255) must act on the first convolution exactly as inputs of 1.0 would
    errors: dict[str, float] = {}

    def compare(conv, args, out, key):
        as_ones = F.conv2d(torch.ones_like(args[0]), conv.weight, conv.bias, conv.stride, conv.padding)
        errors[key] = float((out - as_ones).abs().max())

    for key, branch in policy.features_extractor.branches.items():
        if isinstance(branch, ImageEncoder):
            branch.cnn[0].register_forward_hook(partial(compare, key=key))
    obs = collect(model, steps=1)
    for key, value in obs.items():
        if key in ("player_frame", "global_view"):
            obs[key] = np.full_like(value, 255)
    policy.set_training_mode(False)
    with torch.no_grad():
        policy(policy.obs_to_tensor(obs)[0])
    assert errors and all(e < 1e-5 for e in errors.values()), errors


@pytest.mark.parametrize("name", NAMES)
def test_save_load_same_deterministic_actions(name, tmp_path):
    model = make_model(name)
    model.learn(16)                                    # one rollout + update: stats move
    obs = collect(model)
    actions, _ = model.predict(obs, deterministic=True)
    values = model.policy.predict_values(model.policy.obs_to_tensor(obs)[0])
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    loaded_actions, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    torch.testing.assert_close(values, loaded.policy.predict_values(
        loaded.policy.obs_to_tensor(obs)[0]), rtol=0, atol=0)
    for key, value in model.policy.state_dict().items():
        assert torch.equal(value, loaded.policy.state_dict()[key]), key
    counts = [n.count.item() for n in loaded.policy.features_extractor.running_norms().values()]
    assert counts and all(c > 1 for c in counts)


def test_frame_stacked_local_view():
    model = make_model("local_view", stack=4)
    extractor = model.policy.features_extractor
    assert model.observation_space["player_frame"].shape == (4, 84, 84)     # transposed by SB3
    assert model.observation_space["game_state"].shape == (4, 32)
    assert extractor.branches["player_frame"].cnn[0].in_channels == 4
    assert extractor.branches["game_state"].norm.shape == (32,)
    assert extractor.branches["game_state"].mlp[0].in_features == 4 * 32
    model.learn(16)
    actions, _ = model.predict(collect(model), deterministic=True)
    assert actions.shape == (16,)


def test_parameter_counts_modest():
    counts = {name: sum(p.numel() for p in make_model(name).policy.parameters()) for name in NAMES}
    assert counts["vision_free"] < 50_000
    assert max(counts.values()) < 1_000_000, counts


# ---- building blocks -----------------------------------------------------------------------------

def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    norm = RunningNorm((3,), clip=5.0)
    data = [rng.normal([1, -2, 30], [0.5, 2, 10], size=(n, 3)).astype(np.float32)
            for n in (7, 50, 1)]
    for batch in data:
        norm(torch.from_numpy(batch))
    everything = np.concatenate(data)
    np.testing.assert_allclose(norm.mean, everything.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.var, everything.var(0), rtol=1e-3)
    norm.eval()
    out = norm(torch.tensor([[1.0, -2.0, 1000.0]]))
    assert out[0, 2] == 5.0                            # clipped
    stacked = norm(torch.zeros(4, 2, 3))               # (k, D) stacks share per-feature stats
    assert stacked.shape == (4, 2, 3)


def test_vector_encoder_flattens_stacks():
    enc = VectorEncoder(spaces.Box(-1, 1, (4, 10), np.float32), (8,), clip=5.0)
    assert enc(torch.zeros(3, 4, 10)).shape == (3, 8)


def random_graph(b=3, n=10, e=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = {"graph_node_features": torch.randn(b, n, 16, generator=g),
           "graph_node_mask": (torch.rand(b, n, generator=g) > 0.2).float(),
           "graph_edge_index": torch.randint(0, n, (b, 2, e), generator=g).float(),
           "graph_edge_mask": (torch.rand(b, e, generator=g) > 0.3).float(),
           "graph_edge_features": torch.randn(b, e, 2, generator=g)}
    obs["graph_node_mask"][1] = 0                      # one sample without nodes
    return obs


def test_graph_layers_match_dense_reference():
    torch.manual_seed(0)
    graph = flatten_graph(random_graph())
    n = graph.num_nodes
    h = torch.randn(n, 8)
    incoming = [graph.dst == i for i in range(n)]

    mean = MeanConv(8, 2)
    ref = torch.zeros(n, 8)
    for i, m in enumerate(incoming):
        if m.any():
            ref[i] = mean.nb_lin(h)[graph.src[m]].mean(0) + mean.edge_lin(graph.edge_attr[m].mean(0))
    torch.testing.assert_close(mean(h, graph, {}), torch.relu(mean.self_lin(h) + ref))

    att = AttentionConv(8, 2, heads=2)
    z = att.lin(h).view(n, 2, 4)
    logits = torch.nn.functional.leaky_relu(
        (z * att.att_src).sum(-1)[graph.src] + (z * att.att_dst).sum(-1)[graph.dst]
        + att.att_edge(graph.edge_attr), 0.2)
    ref = torch.zeros(n, 8)
    for i, m in enumerate(incoming):
        if m.any():
            alpha = torch.softmax(logits[m], dim=0)
            ref[i] = (alpha[:, :, None] * z[graph.src[m]]).sum(0).reshape(8)
    torch.testing.assert_close(att(h, graph, {}), torch.relu(att.self_lin(h) + ref))

    pooled = masked_mean_max(h, graph)
    torch.testing.assert_close(pooled[1], torch.zeros(16))
    torch.testing.assert_close(pooled[0], torch.cat([h[graph.graph == 0].mean(0),
                                                     h[graph.graph == 0].amax(0)]))


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_graph_encoder_ignores_padding(name):
    venv = NinjaVecEnv([LEVEL], num_envs=1, config=EnvConfig(
        observations=ARCHITECTURES[name].observation_keys))
    extractor = NinjaExtractor(venv.observation_space, name).eval()
    obs = random_graph(b=2, n=966, e=7728) | {
        "game_state": torch.zeros(2, 32), "reachability": torch.zeros(2, 10)}
    base = extractor(obs)
    noisy = dict(obs)
    node_pad = obs["graph_node_mask"][..., None] == 0
    edge_pad = obs["graph_edge_mask"][..., None] == 0
    noisy["graph_node_features"] = torch.where(node_pad, 99.0, obs["graph_node_features"])
    noisy["graph_edge_features"] = torch.where(edge_pad, -99.0, obs["graph_edge_features"])
    noisy["graph_edge_index"] = torch.where(edge_pad.transpose(1, 2).expand(-1, 2, -1), 0.0,
                                            obs["graph_edge_index"])
    torch.testing.assert_close(extractor(noisy), base)
