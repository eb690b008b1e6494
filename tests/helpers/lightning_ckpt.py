# Writes checkpoints shaped as cellarium-ml's Lightning `.ckpt` files, for tests of
# src/train/lightning-checkpoint.ts. Lightning and cellarium-ml are not installed here, so stand-in
# classes carry upstream's module and class names (registered in sys.modules, so that pickle
# records the same globals) and the attributes and buffers upstream's __init__ sets; the
# checkpoint dict has the keys Lightning's checkpoint connector writes, with hyper_parameters
# holding the modules as meta-device copies, as CellariumModule.configure_model leaves them.
#
# Usage: python3 lightning_ckpt.py OUT_DIR [H5AD]; writes OUT_DIR/*.ckpt and prints a JSON of the
# values put in and of references computed here with numpy (the tests' independent side). With an
# .h5ad, also OUT_DIR/demo-ipca.ckpt over its genes and the projection of its cells.

import collections
import copy
import json
import sys
import types

import numpy as np
import torch


def module(name):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        qualified = ".".join(parts[:i])
        if qualified not in sys.modules:
            mod = types.ModuleType(qualified)
            mod.__path__ = []
            sys.modules[qualified] = mod
    return sys.modules[name]


def register(cls, module_name):
    cls.__module__ = module_name
    setattr(module(module_name), cls.__name__, cls)
    return cls


class AttributeDict(dict):
    pass


register(AttributeDict, "lightning.fabric.utilities.data")


class CellariumPipeline(torch.nn.ModuleList):
    pass


register(CellariumPipeline, "cellarium.ml.core.pipeline")


class TDigestStandIn:
    """crick.tdigest.TDigest's pickle: (TDigest, (compression,), (centroids, total, min, max))."""

    dtype = np.dtype([("mean", np.float64), ("weight", np.uint32)], align=True)

    def __init__(self, compression=100.0, values=()):
        self.compression = compression
        values = np.sort(np.asarray(values, dtype=np.float64))
        self.centroids = np.array([(v, 1) for v in values], dtype=self.dtype)
        self.total = float(len(values))
        self.min = float(values[0]) if len(values) else float("inf")
        self.max = float(values[-1]) if len(values) else float("-inf")

    def __reduce__(self):
        return (TDigestStandIn, (self.compression,), (self.centroids, self.total, self.min, self.max))

    def __setstate__(self, state):
        self.centroids, self.total, self.min, self.max = state


TDigestStandIn.__name__ = TDigestStandIn.__qualname__ = "TDigest"
register(TDigestStandIn, "crick.tdigest")


def model_class(name, module_name, init):
    cls = type(name, (torch.nn.Module,), {"__init__": init})
    return register(cls, module_name)


def ipca_init(self, var_names_g, n_components, svd_lowrank_niter=2, perform_mean_correction=False):
    torch.nn.Module.__init__(self)
    self.var_names_g = var_names_g
    self.n_vars = len(var_names_g)
    self.n_components = n_components
    self.svd_lowrank_niter = svd_lowrank_niter
    self.perform_mean_correction = perform_mean_correction
    self.register_buffer("V_kg", torch.empty(n_components, self.n_vars))
    self.register_buffer("S_k", torch.empty(n_components))
    self.register_buffer("x_mean_g", torch.empty(self.n_vars))
    self.register_buffer("x_size", torch.empty(()))
    self._dummy_param = torch.nn.Parameter(torch.empty(()))


def onepass_init(self, var_names_g, algorithm="naive", n_batch=1, output_path=None):
    torch.nn.Module.__init__(self)
    self.var_names_g = var_names_g
    self.n_vars = len(var_names_g)
    self.algorithm = algorithm
    self.n_batch = n_batch
    self.output_path = output_path
    if algorithm == "shifted_data":
        self.register_buffer("x_shift", torch.empty(self.n_vars))
    else:
        self.register_buffer("x_shift", None)
    self.register_buffer("x_sums_bg", torch.empty(n_batch, self.n_vars))
    self.register_buffer("x_squared_sums_bg", torch.empty(n_batch, self.n_vars))
    self.register_buffer("x_size_b", torch.empty(n_batch))
    self._dummy_param = torch.nn.Parameter(torch.empty(()))


def lr_init(self, n_obs, var_names_g, y_categories, W_prior_scale=1.0, W_init_scale=1.0, seed=0, log_metrics=True):
    torch.nn.Module.__init__(self)
    self.n_obs = n_obs
    self.var_names_g = var_names_g
    self.n_vars = len(var_names_g)
    self.y_categories = y_categories
    self.n_categories = len(y_categories)
    self.seed = seed
    self._W_prior_scale = W_prior_scale
    self.W_init_scale = W_init_scale
    self.register_buffer("W_prior_scale", torch.empty(()))
    self.W_gc = torch.nn.Parameter(torch.empty(self.n_vars, self.n_categories))
    self.b_c = torch.nn.Parameter(torch.empty(self.n_categories))
    self.log_metrics = log_metrics


def ppca_init(self, n_obs, var_names_g, n_components, ppca_flavor, mean_g=None, W_init_scale=1.0,
              sigma_init_scale=1.0, seed=0):
    # Upstream's is a PyroModule: its PyroParam sigma (constraints.positive) is the parameter
    # sigma_unconstrained = log(sigma) in the state dict.
    torch.nn.Module.__init__(self)
    self.n_obs = n_obs
    self.var_names_g = var_names_g
    self.n_vars = len(var_names_g)
    self.n_components = n_components
    self.ppca_flavor = ppca_flavor
    if mean_g is None:
        self.mean_g = torch.nn.Parameter(torch.empty(self.n_vars))
    else:
        self.register_buffer("mean_g", mean_g)
    self.W_init_scale = W_init_scale
    self.sigma_init_scale = sigma_init_scale
    self.seed = seed
    self.W_kg = torch.nn.Parameter(torch.empty(n_components, self.n_vars))
    self.sigma_unconstrained = torch.nn.Parameter(torch.empty(()))


def tdigest_init(self, var_names_g):
    torch.nn.Module.__init__(self)
    self.var_names_g = var_names_g
    self.n_vars = len(var_names_g)
    self.tdigests = [TDigestStandIn() for _ in range(self.n_vars)]
    self._dummy_param = torch.nn.Parameter(torch.empty(()))


def tdigest_get_extra_state(self):
    return {"tdigests": self.tdigests}


def tdigest_set_extra_state(self, state):
    self.tdigests = state["tdigests"]


def socam_init(self, var_names_g):
    torch.nn.Module.__init__(self)
    self.var_names_g = var_names_g
    self.W = torch.nn.Parameter(torch.empty(len(var_names_g), 2))


IncrementalPCA = model_class("IncrementalPCA", "cellarium.ml.models.incremental_pca", ipca_init)
OnePassMeanVarStd = model_class("OnePassMeanVarStd", "cellarium.ml.models.onepass_mean_var_std", onepass_init)
LogisticRegression = model_class("LogisticRegression", "cellarium.ml.models.logistic_regression", lr_init)
TDigest = model_class("TDigest", "cellarium.ml.models.tdigest", tdigest_init)
ProbabilisticPCA = model_class("ProbabilisticPCA", "cellarium.ml.models.probabilistic_pca", ppca_init)
TDigest.get_extra_state = tdigest_get_extra_state
TDigest.set_extra_state = tdigest_set_extra_state
SOCAM = model_class("SOCAM", "cellarium.ml.models.socam", socam_init)


def normalize_total_init(self, target_count=10_000, eps=1e-6):
    torch.nn.Module.__init__(self)
    self.target_count = target_count
    self.eps = eps


def log1p_init(self):
    torch.nn.Module.__init__(self)


def zscore_init(self, mean_g, std_g, var_names_g, eps=1e-6):
    torch.nn.Module.__init__(self)
    self.register_buffer("mean_g", mean_g)
    self.register_buffer("std_g", std_g)
    self.var_names_g = var_names_g
    self.eps = eps


NormalizeTotal = model_class("NormalizeTotal", "cellarium.ml.transforms.normalize_total", normalize_total_init)
Log1p = model_class("Log1p", "cellarium.ml.transforms.log1p", log1p_init)
ZScore = model_class("ZScore", "cellarium.ml.transforms.z_score", zscore_init)


def cellarium_module_init(self, cpu_transforms=None, transforms=None, model=None, optim_fn=None, optim_kwargs=None):
    torch.nn.Module.__init__(self)
    self._hparams = AttributeDict(
        cpu_transforms=cpu_transforms,
        transforms=transforms,
        model=model,
        optim_fn=optim_fn,
        optim_kwargs=optim_kwargs,
        scheduler_fn=None,
        scheduler_kwargs=None,
        is_initialized=False,
    )
    self._trainer = None
    self.pipeline = None


CellariumModule = model_class("CellariumModule", "cellarium.ml.core.module", cellarium_module_init)


def meta(m):
    return copy.deepcopy(m).to_empty(device="meta")


def configure(cm):
    """CellariumModule.configure_model: real modules into pipeline, meta copies into hparams."""
    hp = cm._hparams
    cpu = tuple(hp["cpu_transforms"] or ())
    trans = tuple(hp["transforms"] or ())
    cm.pipeline = CellariumPipeline(list(cpu + trans + (hp["model"],)))
    hp["model"] = meta(hp["model"])
    if hp["cpu_transforms"]:
        hp["cpu_transforms"] = tuple(meta(t) for t in cpu)
    if hp["transforms"]:
        hp["transforms"] = tuple(meta(t) for t in trans)
    hp["is_initialized"] = True
    return cm


def lightning_checkpoint(cm, epoch=0, global_step=0, batches=0, epochs_done=0, optimizer_states=()):
    progress = lambda n: {"total": {"ready": n, "started": n, "processed": n, "completed": n},
                          "current": {"ready": n, "started": n, "processed": n, "completed": n}}
    return {
        "epoch": epoch,
        "global_step": global_step,
        "pytorch-lightning_version": "2.5.1",
        "state_dict": cm.state_dict(),
        "loops": {
            "fit_loop": {
                "state_dict": {},
                "epoch_loop.state_dict": {"_batches_that_stepped": global_step},
                "epoch_loop.batch_progress": {**progress(batches), "is_last_batch": False},
                "epoch_progress": progress(epochs_done),
            },
        },
        "callbacks": {"ModelCheckpoint{'monitor': None, 'mode': 'min'}": {"best_model_score": None}},
        "optimizer_states": list(optimizer_states),
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": dict(cm._hparams),
        "CellariumAnnDataDataModule": {"iteration_strategy": "cache_efficient", "epoch": epoch, "resume_step": None},
    }


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    genes = np.array([f"gene_{i}" for i in range(6)], dtype=object)
    n, g, k = 5, len(genes), 3
    ref = {"genes": genes.tolist()}
    x = rng.integers(0, 20, size=(n, g)).astype(np.float32)
    x[0, 0] = 0
    ref["x"] = x.flatten().tolist()

    # IncrementalPCA alone, and behind NormalizeTotal -> Log1p -> ZScore.
    V = np.linalg.qr(rng.normal(size=(g, k)))[0].T.astype(np.float32)
    S = np.array([5.0, 3.0, 1.5], dtype=np.float32)
    mean = rng.normal(size=g).astype(np.float32)
    ipca = IncrementalPCA(genes, k)
    ipca.V_kg.copy_(torch.from_numpy(V))
    ipca.S_k.copy_(torch.from_numpy(S))
    ipca.x_mean_g.copy_(torch.from_numpy(mean))
    ipca.x_size.fill_(1234.0)
    zs_mean = rng.normal(size=g).astype(np.float32)
    zs_std = rng.uniform(0.5, 2.0, size=g).astype(np.float32)
    chain = [NormalizeTotal(target_count=10_000), Log1p(), ZScore(torch.from_numpy(zs_mean), torch.from_numpy(zs_std), genes)]
    torch.save(lightning_checkpoint(configure(CellariumModule(model=copy.deepcopy(ipca))), epoch=2, global_step=40, epochs_done=3), f"{out}/ipca.ckpt")
    torch.save(lightning_checkpoint(configure(CellariumModule(transforms=chain, model=copy.deepcopy(ipca))), epoch=0, global_step=7, batches=7), f"{out}/zscore-ipca.ckpt")
    x64 = x.astype(np.float64)
    ref["ipca"] = {"V_kg": V.flatten().tolist(), "S_k": S.tolist(), "x_mean_g": mean.tolist(), "x_size": 1234.0,
                   "z_nk": ((x64 - mean) @ V.T.astype(np.float64)).flatten().tolist()}
    y = np.log1p(10_000 * x64 / (x64.sum(1, keepdims=True) + 1e-6))
    y = (y - zs_mean) / (zs_std + 1e-6)
    ref["zscore_ipca"] = {"z_nk": ((y - mean) @ V.T.astype(np.float64)).flatten().tolist()}

    # OnePassMeanVarStd with two batches' sums (upstream since 2026-04), shifted_data.
    shift = x[0].copy()
    onepass = OnePassMeanVarStd(genes, algorithm="shifted_data", n_batch=2, output_path="stats.csv")
    d = x64 - shift
    onepass.x_shift.copy_(torch.from_numpy(shift))
    onepass.x_sums_bg.copy_(torch.from_numpy(np.stack([d[:2].sum(0), d[2:].sum(0)]).astype(np.float32)))
    onepass.x_squared_sums_bg.copy_(torch.from_numpy(np.stack([(d[:2] ** 2).sum(0), (d[2:] ** 2).sum(0)]).astype(np.float32)))
    onepass.x_size_b.copy_(torch.tensor([2.0, 3.0]))
    torch.save(lightning_checkpoint(configure(CellariumModule(model=onepass))), f"{out}/onepass.ckpt")
    ref["onepass"] = {"mean_g": x64.mean(0).tolist(), "var_g": x64.var(0).tolist(), "std_g": x64.std(0).tolist()}

    # LogisticRegression on the IncrementalPCA checkpoint as a frozen transform, with Adam states.
    cats = np.array(["B", "T"], dtype=object)
    pcs = np.array([f"PC{i + 1}" for i in range(k)], dtype=object)
    lr = LogisticRegression(100, pcs, cats, W_prior_scale=0.5, W_init_scale=0.1, seed=3)
    W = rng.normal(size=(k, 2)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    lr.W_gc.data.copy_(torch.from_numpy(W))
    lr.b_c.data.copy_(torch.from_numpy(b))
    lr.W_prior_scale.fill_(0.5)
    frozen = configure(CellariumModule(model=copy.deepcopy(ipca)))
    # torch numbers the parameters in registration order: 0 is W_gc, 1 is b_c.
    moments = {name: rng.normal(size=shape).astype(np.float32) for name, shape in
               [("W_avg", (k, 2)), ("W_sq", (k, 2)), ("b_avg", (2,)), ("b_sq", (2,))]}
    moments = {name: np.abs(v) if name.endswith("sq") else v for name, v in moments.items()}
    adam = {"state": {0: {"step": torch.tensor(4.0), "exp_avg": torch.from_numpy(moments["W_avg"]), "exp_avg_sq": torch.from_numpy(moments["W_sq"])},
                      1: {"step": torch.tensor(4.0), "exp_avg": torch.from_numpy(moments["b_avg"]), "exp_avg_sq": torch.from_numpy(moments["b_sq"])}},
            "param_groups": [{"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-7, "weight_decay": 0.5, "amsgrad": False, "maximize": False,
                              "foreach": None, "capturable": False, "differentiable": False, "fused": None, "initial_lr": 0.01, "params": [0, 1]}]}
    ref["lr_adam"] = {name: v.flatten().tolist() for name, v in moments.items()}
    cm = CellariumModule(transforms=[frozen], model=lr, optim_fn=torch.optim.Adam, optim_kwargs={"lr": 0.01})
    torch.save(lightning_checkpoint(configure(cm), epoch=1, global_step=4, batches=4, optimizer_states=[adam]), f"{out}/lr.ckpt")
    z = (x64 - mean) @ V.T.astype(np.float64)
    ref["lr"] = {"W_gc": W.flatten().tolist(), "b_c": b.tolist(),
                 "y_logits_nc": (z @ W.astype(np.float64) + b).flatten().tolist()}

    # TDigest: one crick digest per gene over the non-zero values.
    td = TDigest(genes)
    td.tdigests = [TDigestStandIn(100.0, x64[:, j][x64[:, j] != 0]) for j in range(g)]
    torch.save(lightning_checkpoint(configure(CellariumModule(model=td))), f"{out}/tdigest.ckpt")
    ref["tdigest"] = {"median_g": [float(np.median(x64[:, j][x64[:, j] != 0])) for j in range(g)]}

    # ProbabilisticPCA, mean_g learnt (a parameter) and fixed (a buffer): predict's
    # z_nk = (x - mean_g) V_gk, V_gk = solve(M, W)^T, M = W W^T + sigma^2 I.
    ref["ppca"] = {}
    for name, fixed in (("ppca", False), ("ppca-fixed-mean", True)):
        W = rng.normal(size=(2, g)).astype(np.float32)
        mean_g = rng.normal(size=g).astype(np.float32)
        log_sigma = np.float32(0.3)
        ppca = ProbabilisticPCA(50, genes, 2, "marginalized", mean_g=torch.from_numpy(mean_g) if fixed else None,
                                W_init_scale=0.5, sigma_init_scale=2.0, seed=4)
        ppca.W_kg.data.copy_(torch.from_numpy(W))
        ppca.sigma_unconstrained.data.fill_(float(log_sigma))
        if not fixed:
            ppca.mean_g.data.copy_(torch.from_numpy(mean_g))
        torch.save(lightning_checkpoint(configure(CellariumModule(model=ppca))), f"{out}/{name}.ckpt")
        W64 = W.astype(np.float64)
        M = W64 @ W64.T + np.exp(2 * np.float64(log_sigma)) * np.eye(2)
        V = np.linalg.solve(M, W64).T
        ref["ppca"][name] = {"mean_g": mean_g.tolist(), "z_nk": ((x64 - mean_g) @ V).flatten().tolist()}

    # A tensor whose view claims more elements than its storage holds.
    class Oversized:
        def __reduce__(self):
            storage = torch.zeros(4).storage()
            return (torch._utils._rebuild_tensor_v2, (storage, 0, (1_000_000,), (1,), False, collections.OrderedDict()))

    oversized = lightning_checkpoint(configure(CellariumModule(model=copy.deepcopy(ipca))))
    oversized["state_dict"]["pipeline.0.x_mean_g"] = Oversized()
    torch.save(oversized, f"{out}/oversized.ckpt")

    # A model cellarium-ts does not have.
    torch.save(lightning_checkpoint(configure(CellariumModule(model=SOCAM(genes)))), f"{out}/socam.ckpt")
    if len(sys.argv) > 2:
        import anndata

        a = anndata.read_h5ad(sys.argv[2])
        names = np.array(list(a.var_names), dtype=object)
        V = np.linalg.qr(rng.normal(size=(len(names), k)))[0].T.astype(np.float32)
        mean = rng.uniform(0, 1, size=len(names)).astype(np.float32)
        model = IncrementalPCA(names, k)
        model.V_kg.copy_(torch.from_numpy(V))
        model.S_k.copy_(torch.tensor([3.0, 2.0, 1.0]))
        model.x_mean_g.copy_(torch.from_numpy(mean))
        model.x_size.fill_(float(a.n_obs))
        torch.save(lightning_checkpoint(configure(CellariumModule(model=model))), f"{out}/demo-ipca.ckpt")
        xd = a.X.toarray().astype(np.float64)
        ref["demo"] = {"obs_names": list(a.obs_names), "z_nk": ((xd - mean) @ V.T.astype(np.float64)).ravel().tolist()}
    print(json.dumps(ref))


main()
