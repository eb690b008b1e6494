#!/usr/bin/python3
"""Reference scVI (cellarium-ml's SingleCellVariationalInference) in plain PyTorch, for parity tests.

cellarium-ml is not a Debian package (nor are lightning, pyro and zuko, which it imports), so its scVI
network is written here with torch only, from the behaviour of upstream's cellarium/ml/models/scvi.py,
cellarium/ml/layers/vae.py and cellarium/ml/distributions/negative_binomial.py. The module tree uses
upstream's attribute names, so that torch's state_dict names are upstream's (for the TS port to load
and write checkpoints under the same keys). Safetensors files go through safetensors_io.py.

Network (upstream's semantics):
  * Layer specs {class_path, init_args: {out_features, label_to_bias_hidden_layers,
    label_to_bias_dressing_init_kwargs?}, dressing_init_args?}. class_path torch.nn.Linear, or
    cellarium.ml.models.scvi.LinearWithBatch / LinearWithCovariates / LinearWithBatchAndCovariates:
    x W^T + b + bias_decoder(input), the input being the batch representation, the one-hot
    covariates or both concatenated (batch first); bias_decoder is upstream's FullyConnectedLinear:
    module_list = [DressedLayer(Linear(bias=True)) per label_to_bias_hidden_layers entry (dressing
    from label_to_bias_dressing_init_kwargs: ReLU only by default)] + [Linear(bias=False)].
  * DressedLayer: attributes `layer` then `dressing` = Sequential of the modules present among
    [BatchNorm1d(momentum 0.01, eps 1e-3), LayerNorm(elementwise_affine False), ReLU, Dropout(p > 0)]
    (indices count only the present ones).
  * Hidden blocks (`fully_connected.module_list`): one DressedLayer per hidden layer spec, or a single
    Identity when the list is empty. Defaults filled per layer unless given in dressing_init_args:
    use_batch_norm / use_layer_norm from "encoder" / "decoder" / "both" / "none"; dropout_rate in
    the encoder's hidden layers only (the decoder's is forced to 0). n_batch (= n_latent_batch)
    and the covariate sizes of structured layers come from the model, as upstream fills them in.
  * Encoder: q = fully_connected(log1p(x) if log_variational else x); mean = mean_encoder(q);
    var = exp(var_encoder(q)) + 1e-4; z = mean + eps * sqrt(var) (eps: given, for qz.rsample).
  * Batch representation: one-hot of batch_index (batch_embedded false), or rows of
    batch_representation_mean_bd (point), or mean + eps * (exp(batch_representation_std_unconstrained_bd)
    + 1e-5) (sampled). Covariates: one-hot per covariate, concatenated.
  * Decoder: q = fully_connected(z); chi = softmax(normalized_count_decoder(q)) (softplus when
    use_size_factor_key); mean = exp(library) * chi [+ final_additive_bias_layer(cat(batch, covariates))
    when final_additive_bias: Sequential(FullyConnectedLinear(n_hidden=[]), ReLU)]; library =
    log(sum_g x) (log(total_mrna_umis_n) with use_size_factor_key).
  * Inverse dispersion theta: exp(px_r) ("gene", px_r [g]); exp(batch @ px_r^T) ("gene-batch",
    px_r [g, n_latent_batch], which upstream's constructor still refuses); exp(inverse_overdispersion_decoder(q))
    ("gene-cell", px_r a dummy [1]).
  * Likelihood: "nb": cellarium's NegativeBinomial(mean + 1e-10, theta + 1e-10).log_prob (Stirling
    form of the lgamma difference where theta > 200); "poisson": Poisson(mean + 1e-10); "zinb" (upstream
    raises NotImplementedError; added here): scvi-tools' log_zinb_positive(x, mean, theta,
    dropout_decoder(q), eps=1e-8), mean and theta without the 1e-10 (as upstream's commented-out line).
  * KL(q(z) || N(0, 1)) summed over the latent; batch KL of the sampled representation's Normal vs
    N(0, 1), only when sampled and batch_kl_weight_max > 0; loss = mean_n(rec_n + w * (z_kl_weight_max *
    kl_z_n + batch_kl_weight_max * kl_batch_n)), w = compute_annealed_kl_weight(...).

state_dict for upstream's examples/other_configs/scvi_pbmc_train_config.yaml (batch_embedded, sampled,
encoder LinearWithCovariates 128 + torch.nn.Linear final, decoder LinearWithBatchAndCovariates 128 +
LinearWithBatchAndCovariates final, final_additive_bias, n_latent 10, batch norm both, dropout 0.1)
with n_batch 4 (n_latent_batch 4), n_cats_per_cov [3] and g genes, in order (27 entries; the 6
BatchNorm buffers marked *):
  batch_representation_mean_bd                                              [4, 4]
  batch_representation_std_unconstrained_bd                                 [4, 4]
  px_r                                                                      [g]
  z_encoder.fully_connected.module_list.0.layer.weight                      [128, g]
  z_encoder.fully_connected.module_list.0.layer.bias                        [128]
  z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight   [128, 3]
  z_encoder.fully_connected.module_list.0.dressing.0.weight                 [128]
  z_encoder.fully_connected.module_list.0.dressing.0.bias                   [128]
  z_encoder.fully_connected.module_list.0.dressing.0.running_mean           [128] *
  z_encoder.fully_connected.module_list.0.dressing.0.running_var            [128] *
  z_encoder.fully_connected.module_list.0.dressing.0.num_batches_tracked    [] int64 *
  z_encoder.mean_encoder.weight                                             [10, 128]
  z_encoder.mean_encoder.bias                                               [10]
  z_encoder.var_encoder.weight                                              [10, 128]
  z_encoder.var_encoder.bias                                                [10]
  decoder.fully_connected.module_list.0.layer.weight                        [128, 10]
  decoder.fully_connected.module_list.0.layer.bias                          [128]
  decoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight     [128, 7]
  decoder.fully_connected.module_list.0.dressing.0.weight                   [128]
  decoder.fully_connected.module_list.0.dressing.0.bias                     [128]
  decoder.fully_connected.module_list.0.dressing.0.running_mean             [128] *
  decoder.fully_connected.module_list.0.dressing.0.running_var              [128] *
  decoder.fully_connected.module_list.0.dressing.0.num_batches_tracked      [] int64 *
  decoder.normalized_count_decoder.weight                                   [g, 128]
  decoder.normalized_count_decoder.bias                                     [g]
  decoder.normalized_count_decoder.bias_decoder.module_list.0.weight        [g, 7]
  decoder.final_additive_bias_layer.0.module_list.0.weight                  [g, 7]
(The encoder's hidden dressing is [BatchNorm1d, ReLU, Dropout], the decoder's [BatchNorm1d, ReLU].)

Commands:
  keys CONFIG.json          Prints the state_dict as JSON [{name, shape, dtype, kind: parameter|buffer}]
                            for a config (upstream's init args with n_input or var_names_g).
  loss CASE.safetensors...  Each case: metadata "config" (JSON: upstream's init args, n_input taken
                            from x_ng, plus "kl_weight" and "training"); tensors x_ng F32 [n, g],
                            batch_index_n I32 [n], categorical_covariate_index_nd I32 [n, d] (when
                            n_cats_per_cov is not empty), total_mrna_umis_n F32 [n] (with
                            use_size_factor_key), eps_z_nk F32 [n, n_latent], eps_batch_nb F32
                            [n, n_latent_batch] (sampled batch representation), and param.<name> for
                            every state_dict entry (no others; integer buffers in any int dtype).
                            "training" defaults to true (BatchNorm batch statistics, running stats
                            updated); dropout > 0 is refused in training mode. Writes
                            CASE.out.safetensors (F32 but buffer.*num_batches_tracked I64): loss [1],
                            reconstruction_loss_n, kl_divergence_z_n, kl_divergence_batch_n (zeros when
                            not computed), z_nk, qz_mean_nk, qz_scale_nk, grad.<name> per parameter (zeros
                            where unused) and buffer.<name> per buffer after the forward.
  train DATA.safetensors OUT.json
                            Tensors x_ng, batch_index_n, categorical_covariate_index_nd?, total_mrna_umis_n?,
                            steps I32 [n_steps, batch_size] (rows of each step), param.<name> (initial
                            state); metadata "config": the model's init args plus lr, weight_decay
                            (default 0.01), gradient_clip_val (null: none), steps_per_epoch,
                            kl_warmup_epochs (upstream's default 400) / kl_warmup_steps, kl_annealing_start,
                            seed. AdamW, training mode, noise and dropout from torch's RNG (after
                            torch.manual_seed(seed)), clip_grad_norm_ before each step, zero_grad(set_to_none)
                            as torch 2 does. Forward k uses compute_annealed_kl_weight(epoch, step=k) with
                            epoch = (k - 1) // steps_per_epoch (0 at k = 0): upstream's on_train_batch_end
                            records trainer.current_epoch after each batch, so a new epoch's first batch still
                            sees the previous epoch. Writes JSON {loss: [...], reconstruction_loss: [...]
                            (batch means), kl_weight: [...]}, one entry per step.
  bench [--data FILE.h5ad | --cells N --genes G] --batch-size B --epochs E --threads T
                            Trains upstream's example train config network (n_batch 4, one covariate
                            of 3 categories, dropout 0.1, upstream's initialisation) on synthetic dense
                            float32 counts (numpy, seed 0), or on --data's X held in memory dense (its
                            obs batch and chemistry as the batch and the covariate), with
                            torch.set_num_threads(T): AdamW lr 1e-3
                            (weight decay 0.01), clip norm 10, KL warmup 20 epochs, shuffled batches.
                            Prints JSON {cells_per_s, epochs_per_s, seconds, peak_rss_mib}; seconds
                            cover the E epochs only (not the data generation nor the model's build).
  selfcheck                 Checks the reference against independent facts (closed-form likelihoods,
                            torch.distributions, finite differences, upstream's key names); exits 1 on
                            a failure.
"""

import copy
import json
import math
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors_io import read_safetensors, write_safetensors

SCVI = "cellarium.ml.models.scvi."
STRUCTURED = {
    SCVI + "LinearWithBatch": "batch",
    SCVI + "LinearWithCovariates": "covariates",
    SCVI + "LinearWithBatchAndCovariates": "both",
}
NB_EPS = 1e-10
ZINB_EPS = 1e-8
VAR_EPS = 1e-4
BATCH_STD_EPS = 1e-5
THETA_STIRLING = 200


# ---------------------------------------------------------------- likelihoods and KL


def nb_log_prob(x, mu, theta):
    """cellarium's NegativeBinomial(mu, theta).log_prob(x): the lgamma difference
    lgamma(x + theta) - lgamma(theta) - x log(theta) is replaced by its Stirling form where theta > 200."""
    x, mu, theta = torch.broadcast_tensors(x, mu, theta)
    stirling = (x + theta - 0.5) * torch.log1p(x / theta) - x
    exact = torch.lgamma(x + theta) - torch.lgamma(theta) - torch.xlogy(x, theta)
    delta = torch.where(theta > THETA_STIRLING, stirling, exact)
    core = (delta - (x + theta) * torch.log1p(mu / theta)).masked_fill(theta == 0, 0)
    return core - torch.lgamma(x + 1) + torch.xlogy(x, mu)


def poisson_log_prob(x, rate):
    return torch.xlogy(x, rate) - rate - torch.lgamma(x + 1)


def zinb_log_prob(x, mu, theta, zi_logits, eps=ZINB_EPS):
    """scvi-tools' log_zinb_positive: zero inflation with logits zi_logits, eps inside the logs."""
    log_theta_mu = torch.log(theta + mu + eps)
    nb_zero_plus_logit = -zi_logits + theta * (torch.log(theta + eps) - log_theta_mu)
    at_zero = F.softplus(nb_zero_plus_logit) - F.softplus(-zi_logits)
    # x > 0: log(1 - pi) + log NB(x), with log(1 - pi) = -softplus(-logits) - logits.
    at_positive = (
        -F.softplus(-zi_logits)
        + nb_zero_plus_logit
        + x * (torch.log(mu + eps) - log_theta_mu)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )
    return (x < eps).to(x.dtype) * at_zero + (x > eps).to(x.dtype) * at_positive


def kl_normal_std_normal(loc, scale):
    """torch's KL(Normal(loc, scale) || Normal(0, 1)), elementwise."""
    var_ratio = scale.pow(2)
    return 0.5 * (var_ratio + loc.pow(2) - 1 - var_ratio.log())


def compute_annealed_kl_weight(epoch, step, n_epochs_kl_warmup, n_steps_kl_warmup, max_kl_weight=1.0, min_kl_weight=0.0):
    """Upstream's linear KL warmup: by epoch when n_epochs_kl_warmup is set (truthy), else by step."""
    if min_kl_weight > max_kl_weight:
        raise ValueError(f"min_kl_weight={min_kl_weight} is larger than max_kl_weight={max_kl_weight}")
    span = max_kl_weight - min_kl_weight
    if n_epochs_kl_warmup:
        if epoch < n_epochs_kl_warmup:
            return span * (epoch / n_epochs_kl_warmup) + min_kl_weight
    elif n_steps_kl_warmup:
        if step < n_steps_kl_warmup:
            return span * (step / n_steps_kl_warmup) + min_kl_weight
    return max_kl_weight


# ---------------------------------------------------------------- modules (upstream's attribute names)


class DressedLayer(torch.nn.Module):
    def __init__(self, layer, use_batch_norm=False, use_layer_norm=False, dropout_rate=0.0, batch_norm_kwargs=None, layer_norm_kwargs=None):
        super().__init__()
        if use_batch_norm and use_layer_norm:
            raise ValueError("batch norm and layer norm are mutually exclusive")
        width = layer.out_features
        parts = []
        if use_batch_norm:
            parts.append(torch.nn.BatchNorm1d(width, **(batch_norm_kwargs or {"momentum": 0.01, "eps": 0.001})))
        if use_layer_norm:
            parts.append(torch.nn.LayerNorm(width, **(layer_norm_kwargs or {"elementwise_affine": False})))
        parts.append(torch.nn.ReLU())
        if dropout_rate > 0:
            parts.append(torch.nn.Dropout(p=dropout_rate))
        self.layer = layer
        self.dressing = torch.nn.Sequential(*parts)

    def forward(self, x, batch_nb=None, covariates_np=None):
        if isinstance(self.layer, StructuredLinear):
            return self.dressing(self.layer(x, batch_nb, covariates_np))
        return self.dressing(self.layer(x))


DRESSING_KEYS = {"use_batch_norm", "use_layer_norm", "dropout_rate", "batch_norm_kwargs", "layer_norm_kwargs"}


def check_dressing(kwargs, where):
    unknown = set(kwargs) - DRESSING_KEYS
    if unknown:
        raise ValueError(f"{where}: unsupported dressing arguments {sorted(unknown)}")
    return kwargs


class FullyConnectedLinear(torch.nn.Module):
    """Dressed Linear hidden layers then a final Linear without bias (upstream's bias decoder)."""

    def __init__(self, in_features, out_features, n_hidden, dressing_kwargs):
        super().__init__()
        self.module_list = torch.nn.ModuleList()
        width = in_features
        for n_out in n_hidden:
            self.module_list.append(DressedLayer(torch.nn.Linear(width, n_out, bias=True), **dressing_kwargs))
            width = n_out
        self.module_list.append(torch.nn.Linear(width, out_features, bias=False))
        self.out_features = out_features

    def forward(self, x):
        for m in self.module_list:
            x = m(x)
        return x


class StructuredLinear(torch.nn.Linear):
    """x W^T + b + bias_decoder(batch | covariates | cat(batch, covariates))."""

    def __init__(self, in_features, out_features, kind, n_batch, covariate_dims, hidden, dressing_kwargs, bias=True):
        super().__init__(in_features, out_features, bias=bias)
        n_label = (n_batch if kind != "covariates" else 0) + (sum(covariate_dims) if kind != "batch" else 0)
        if n_label < 1:
            raise ValueError("in_features=0: a structured bias needs at least one batch or covariate dimension")
        self.kind = kind
        self.bias_decoder = FullyConnectedLinear(n_label, out_features, hidden, dressing_kwargs)

    def forward(self, x, batch_nb, covariates_np):  # type: ignore[override]
        if self.kind == "batch":
            label = batch_nb
        elif covariates_np is None:
            raise ValueError("categorical covariates must be provided to a layer with covariate bias")
        elif self.kind == "covariates":
            label = covariates_np
        else:
            label = torch.cat([batch_nb, covariates_np], dim=-1)
        return F.linear(x, self.weight, self.bias) + self.bias_decoder(label)


def make_layer(spec, in_features, out_features, n_batch, covariate_dims, bias, where):
    class_path = spec["class_path"]
    args = dict(spec.get("init_args", {}))
    args.pop("out_features", None)
    for filled in ("n_batch", "categorical_covariate_dimensions"):
        args.pop(filled, None)  # upstream overwrites these from the model
    if class_path == "torch.nn.Linear":
        if args:
            raise ValueError(f"{where}: unsupported torch.nn.Linear arguments {sorted(args)}")
        return torch.nn.Linear(in_features, out_features, bias=bias)
    if class_path not in STRUCTURED:
        raise ValueError(f"{where}: unsupported class_path {class_path}")
    if "label_to_bias_hidden_layers" not in args:
        raise ValueError(f"{where}: label_to_bias_hidden_layers is required")
    hidden = list(args.pop("label_to_bias_hidden_layers"))
    dressing = check_dressing(dict(args.pop("label_to_bias_dressing_init_kwargs", None) or {}), where)
    if args:
        raise ValueError(f"{where}: unsupported arguments {sorted(args)}")
    return StructuredLinear(in_features, out_features, STRUCTURED[class_path], n_batch, covariate_dims, hidden, dressing, bias)


class FullyConnectedWithBatchArchitecture(torch.nn.Module):
    def __init__(self, in_features, layers, n_batch, covariate_dims, where):
        super().__init__()
        if not layers:
            self.module_list = torch.nn.ModuleList([torch.nn.Identity()])
            self.out_features = in_features
            return
        self.module_list = torch.nn.ModuleList()
        width = in_features
        for i, spec in enumerate(layers):
            here = f"{where}.hidden_layers[{i}]"
            if "out_features" not in spec.get("init_args", {}):
                raise ValueError(f"{here}: out_features is required")
            n_out = int(spec["init_args"]["out_features"])
            layer = make_layer(spec, width, n_out, n_batch, covariate_dims, True, here)
            self.module_list.append(DressedLayer(layer, **check_dressing(spec["dressing_init_args"], here)))
            width = n_out
        self.out_features = width

    def forward(self, x, batch_nb, covariates_np):
        for m in self.module_list:
            x = m(x, batch_nb, covariates_np) if isinstance(m, DressedLayer) else m(x)
        return x


def final_layer_forward(layer, q, batch_nb, covariates_np):
    return layer(q, batch_nb, covariates_np) if isinstance(layer, StructuredLinear) else layer(q)


class EncoderSCVI(torch.nn.Module):
    def __init__(self, in_features, out_features, hidden_layers, final_layer, n_batch, covariate_dims):
        super().__init__()
        self.fully_connected = FullyConnectedWithBatchArchitecture(in_features, hidden_layers, n_batch, covariate_dims, "encoder")
        if "bias" in final_layer.get("init_args", {}):
            raise ValueError("encoder.final_layer: upstream passes bias twice when init_args has it")
        width = self.fully_connected.out_features
        self.mean_encoder = make_layer(final_layer, width, out_features, n_batch, covariate_dims, True, "encoder.final_layer")
        self.var_encoder = make_layer(final_layer, width, out_features, n_batch, covariate_dims, True, "encoder.final_layer")

    def forward(self, x, batch_nb, covariates_np):
        q = self.fully_connected(x, batch_nb, covariates_np)
        mean = final_layer_forward(self.mean_encoder, q, batch_nb, covariates_np)
        var = torch.exp(final_layer_forward(self.var_encoder, q, batch_nb, covariates_np)) + VAR_EPS
        return mean, var.sqrt()


class DecoderSCVI(torch.nn.Module):
    def __init__(self, in_features, out_features, hidden_layers, final_layer, n_batch, covariate_dims, dispersion, gene_likelihood, scale_activation, final_additive_bias):
        super().__init__()
        self.gene_likelihood = gene_likelihood
        self.fully_connected = FullyConnectedWithBatchArchitecture(in_features, hidden_layers, n_batch, covariate_dims, "decoder")
        width = self.fully_connected.out_features
        self.inverse_overdispersion_decoder = (
            torch.nn.Linear(width, out_features) if gene_likelihood != "poisson" and dispersion == "gene-cell" else None
        )
        self.dropout_decoder = torch.nn.Linear(width, out_features) if gene_likelihood == "zinb" else None
        bias = bool(final_layer.get("init_args", {}).get("bias", True))
        spec = {"class_path": final_layer["class_path"], "init_args": {k: v for k, v in final_layer.get("init_args", {}).items() if k != "bias"}}
        self.normalized_count_decoder = make_layer(spec, width, out_features, n_batch, covariate_dims, bias, "decoder.final_layer")
        self.normalized_count_activation = torch.nn.Softmax(dim=-1) if scale_activation == "softmax" else torch.nn.Softplus()
        self.final_additive_bias_layer = None
        if final_additive_bias:
            self.final_additive_bias_layer = torch.nn.Sequential(
                FullyConnectedLinear(n_batch + sum(covariate_dims), out_features, [], {}), torch.nn.ReLU()
            )

    def forward(self, z, batch_nb, theta, library_n1, covariates_np):
        q = self.fully_connected(z, batch_nb, covariates_np)
        chi = self.normalized_count_activation(final_layer_forward(self.normalized_count_decoder, q, batch_nb, covariates_np))
        mean = torch.exp(library_n1) * chi
        if self.final_additive_bias_layer is not None:
            label = batch_nb if covariates_np is None else torch.cat([batch_nb, covariates_np], dim=-1)
            mean = mean + self.final_additive_bias_layer(label)
        if self.gene_likelihood != "poisson" and theta is None:
            theta = self.inverse_overdispersion_decoder(q).exp()
        zi_logits = self.dropout_decoder(q) if self.dropout_decoder is not None else None
        return mean, theta, zi_logits


MODEL_DEFAULTS = {
    "n_batch": 0,
    "n_latent": 10,
    "n_continuous_cov": 0,
    "n_cats_per_cov": None,
    "dropout_rate": 0.1,
    "dispersion": "gene",
    "log_variational": True,
    "gene_likelihood": "nb",
    "latent_distribution": "normal",
    "batch_embedded": False,
    "batch_representation_sampled": False,
    "n_latent_batch": None,
    "z_kl_weight_max": 1.0,
    "batch_kl_weight_max": 0.0,
    "input_gene_dropout_rate": 0.0,
    "use_batch_norm": "both",
    "use_layer_norm": "none",
    "use_size_factor_key": False,
    "use_flow": False,
}


def n_input_of(config):
    if "n_input" in config:
        return int(config["n_input"])
    if config.get("var_names_g") is not None:
        return len(config["var_names_g"])
    raise ValueError("config needs n_input or var_names_g")


class SingleCellVariationalInference(torch.nn.Module):
    def __init__(self, config, n_input):
        super().__init__()
        c = dict(MODEL_DEFAULTS)
        c.update({k: v for k, v in config.items() if v is not None})
        for k in ("n_cats_per_cov", "n_latent_batch"):
            c[k] = config.get(k)
        if c["n_continuous_cov"]:
            raise NotImplementedError("continuous covariates (upstream: not implemented)")
        if c["latent_distribution"] != "normal" or c["use_flow"] or c["input_gene_dropout_rate"]:
            raise NotImplementedError("only the normal latent, no flow prior, no input gene dropout")
        self.n_input = n_input
        self.n_batch = int(c["n_batch"])
        self.n_latent = int(c["n_latent"])
        self.n_cats_per_cov = list(c["n_cats_per_cov"] or [])
        self.dispersion = c["dispersion"]
        self.gene_likelihood = c["gene_likelihood"]
        self.log_variational = bool(c["log_variational"])
        self.batch_embedded = bool(c["batch_embedded"])
        self.batch_representation_sampled = bool(c["batch_representation_sampled"])
        self.use_size_factor_key = bool(c["use_size_factor_key"])
        self.z_kl_weight_max = float(c["z_kl_weight_max"])
        self.batch_kl_weight_max = float(c["batch_kl_weight_max"])
        if self.z_kl_weight_max < 0 or self.batch_kl_weight_max < 0:
            raise ValueError("KL weights must be non-negative")
        if self.gene_likelihood not in ("nb", "poisson", "zinb"):
            raise ValueError(f"gene_likelihood {self.gene_likelihood}")
        n_latent_batch = c["n_latent_batch"]
        if not self.batch_embedded and n_latent_batch is not None and n_latent_batch != self.n_batch:
            raise ValueError("n_latent_batch must be equal to n_batch if batch_embedded is False")
        self.n_latent_batch = self.n_batch if n_latent_batch is None else int(n_latent_batch)

        if self.batch_embedded:
            self.batch_representation_mean_bd = torch.nn.Parameter(torch.eye(self.n_batch, self.n_latent_batch))
            self.batch_representation_std_unconstrained_bd = torch.nn.Parameter(torch.zeros(self.n_batch, self.n_latent_batch))
        else:
            self.batch_representation_mean_bd = None
            self.batch_representation_std_unconstrained_bd = None
        if self.dispersion == "gene":
            self.px_r = torch.nn.Parameter(torch.randn(n_input))
        elif self.dispersion == "gene-batch":
            self.px_r = torch.nn.Parameter(torch.randn(n_input, self.n_latent_batch))
        elif self.dispersion == "gene-cell":
            self.px_r = torch.nn.Parameter(torch.zeros(1))  # unused, as upstream's dummy
        else:
            raise ValueError(f"dispersion {self.dispersion}")

        where = lambda setting, part: setting in (part, "both")
        encoder = copy.deepcopy(config["encoder"])
        decoder = copy.deepcopy(config["decoder"])
        for layer in encoder["hidden_layers"]:
            d = layer.setdefault("dressing_init_args", {})
            d.setdefault("use_batch_norm", where(c["use_batch_norm"], "encoder"))
            d.setdefault("use_layer_norm", where(c["use_layer_norm"], "encoder"))
            d.setdefault("dropout_rate", c["dropout_rate"])
        for layer in decoder["hidden_layers"]:
            d = layer.setdefault("dressing_init_args", {})
            d["dropout_rate"] = 0.0  # scVI's decoder never drops out
            d.setdefault("use_batch_norm", where(c["use_batch_norm"], "decoder"))
            d.setdefault("use_layer_norm", where(c["use_layer_norm"], "decoder"))
        if not isinstance(decoder.get("final_additive_bias"), bool):
            raise ValueError("decoder.final_additive_bias must be a boolean")

        self.z_encoder = EncoderSCVI(
            n_input, self.n_latent, encoder["hidden_layers"], encoder["final_layer"], self.n_latent_batch, self.n_cats_per_cov
        )
        self.decoder = DecoderSCVI(
            self.n_latent,
            n_input,
            decoder["hidden_layers"],
            decoder["final_layer"],
            self.n_latent_batch,
            self.n_cats_per_cov,
            self.dispersion,
            self.gene_likelihood,
            "softplus" if self.use_size_factor_key else "softmax",
            decoder["final_additive_bias"],
        )

    def batch_std(self, batch_index_n):
        return self.batch_representation_std_unconstrained_bd[batch_index_n].exp() + BATCH_STD_EPS

    def forward(self, x_ng, batch_index_n, covariate_index_nd=None, eps_z_nk=None, eps_batch_nb=None, kl_weight=1.0, total_mrna_umis_n=None):
        """Upstream's forward with the two reparameterised draws made explicit (None: drawn from torch's RNG)."""
        batch_index_n = batch_index_n.long()
        if not self.batch_embedded:
            batch_nb = F.one_hot(batch_index_n, num_classes=self.n_batch).to(x_ng.dtype)
        elif self.batch_representation_sampled:
            mean = self.batch_representation_mean_bd[batch_index_n]
            if eps_batch_nb is None:
                eps_batch_nb = torch.randn(mean.shape, dtype=mean.dtype)
            batch_nb = mean + eps_batch_nb * self.batch_std(batch_index_n)
        else:
            batch_nb = self.batch_representation_mean_bd[batch_index_n]
        covariates_np = None
        if covariate_index_nd is not None:
            covariates_np = torch.cat(
                [F.one_hot(covariate_index_nd[:, i].long(), num_classes=k).to(x_ng.dtype) for i, k in enumerate(self.n_cats_per_cov)],
                dim=1,
            )
        if self.use_size_factor_key:
            library_n1 = torch.log(total_mrna_umis_n).unsqueeze(-1)
        else:
            library_n1 = torch.log(x_ng.sum(dim=-1, keepdim=True))

        encoder_input = torch.log1p(x_ng) if self.log_variational else x_ng
        qz_mean, qz_scale = self.z_encoder(encoder_input, batch_nb, covariates_np)
        if eps_z_nk is None:
            eps_z_nk = torch.randn(qz_mean.shape, dtype=qz_mean.dtype)
        z = qz_mean + eps_z_nk * qz_scale

        if self.dispersion == "gene":
            theta = self.px_r.exp()
        elif self.dispersion == "gene-batch":
            theta = F.linear(batch_nb, self.px_r).exp()
        else:
            theta = None
        mean, theta, zi_logits = self.decoder(z, batch_nb, theta, library_n1, covariates_np)
        if self.gene_likelihood == "nb":
            log_px = nb_log_prob(x_ng, mean + NB_EPS, theta + NB_EPS)
        elif self.gene_likelihood == "poisson":
            log_px = poisson_log_prob(x_ng, mean + NB_EPS)
        else:
            log_px = zinb_log_prob(x_ng, mean, theta, zi_logits)
        rec_n = -log_px.sum(-1)

        kl_z_n = kl_normal_std_normal(qz_mean, qz_scale).sum(dim=1)
        if self.batch_representation_sampled and self.batch_kl_weight_max > 0:
            kl_batch_n = kl_normal_std_normal(self.batch_representation_mean_bd[batch_index_n], self.batch_std(batch_index_n)).sum(dim=1)
        else:
            kl_batch_n = torch.zeros_like(rec_n)
        if not 0.0 <= kl_weight <= 1.0:
            raise ValueError(f"invalid KL annealing weight {kl_weight}")
        loss = torch.mean(rec_n + kl_weight * (self.z_kl_weight_max * kl_z_n + self.batch_kl_weight_max * kl_batch_n), dim=0)
        return {
            "loss": loss,
            "reconstruction_loss_n": rec_n,
            "kl_divergence_z_n": kl_z_n,
            "kl_divergence_batch_n": kl_batch_n,
            "z_nk": z,
            "qz_mean_nk": qz_mean,
            "qz_scale_nk": qz_scale,
        }


def init_like_upstream(model):
    """Upstream's reset_parameters: xavier_normal_ Linear weights, zero biases, BatchNorm weight N(1, 0.02),
    px_r N(0, 1), the batch embedding as eye / zeros."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    torch.nn.init.normal_(model.px_r, 0.0, 1.0)
    if model.batch_embedded:
        with torch.no_grad():
            model.batch_representation_mean_bd.copy_(torch.eye(model.n_batch, model.n_latent_batch))
            model.batch_representation_std_unconstrained_bd.fill_(0.0)


# ---------------------------------------------------------------- commands


def state_entries(model):
    params = dict(model.named_parameters())
    out = []
    for name, t in model.state_dict().items():
        out.append({"name": name, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "kind": "parameter" if name in params else "buffer"})
    return out


def load_state(model, tensors):
    expected = model.state_dict()
    given = {k[len("param.") :]: v for k, v in tensors.items() if k.startswith("param.")}
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    if missing or extra:
        raise ValueError(f"param.* mismatch: missing {missing}, unexpected {extra}")
    state = {}
    for name, ref in expected.items():
        v = given[name]
        if list(v.shape) != list(ref.shape):
            raise ValueError(f"param.{name}: shape {list(v.shape)}, expected {list(ref.shape)}")
        state[name] = torch.tensor(v).to(ref.dtype)
    model.load_state_dict(state)


def model_inputs(tensors, model):
    x = torch.tensor(tensors["x_ng"], dtype=torch.float32)
    batch = torch.tensor(tensors["batch_index_n"]).long()
    cov = torch.tensor(tensors["categorical_covariate_index_nd"]).long() if "categorical_covariate_index_nd" in tensors else None
    if model.n_cats_per_cov and cov is None:
        raise ValueError("categorical_covariate_index_nd is required: n_cats_per_cov is not empty")
    umis = torch.tensor(tensors["total_mrna_umis_n"], dtype=torch.float32) if "total_mrna_umis_n" in tensors else None
    if model.use_size_factor_key and umis is None:
        raise ValueError("total_mrna_umis_n is required with use_size_factor_key")
    return x, batch, cov, umis


def has_dropout(model):
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())


def loss_case(path):
    tensors, metadata = read_safetensors(path)
    config = json.loads(metadata["config"])
    torch.manual_seed(0)
    model = SingleCellVariationalInference(config, tensors["x_ng"].shape[1])
    load_state(model, tensors)
    training = bool(config.get("training", True))
    if training and has_dropout(model):
        raise ValueError(f"{path}: dropout > 0 in training mode cannot be matched; set dropout_rate 0")
    model.train(training)
    x, batch, cov, umis = model_inputs(tensors, model)
    eps_z = torch.tensor(tensors["eps_z_nk"], dtype=torch.float32)
    eps_batch = None
    if model.batch_embedded and model.batch_representation_sampled:
        eps_batch = torch.tensor(tensors["eps_batch_nb"], dtype=torch.float32)
    out = model(x, batch, cov, eps_z, eps_batch, float(config.get("kl_weight", 1.0)), umis)
    out["loss"].backward()
    result = {k: v.detach().numpy().astype(np.float32) for k, v in out.items()}
    result["loss"] = result["loss"].reshape(1)
    for name, p in model.named_parameters():
        result[f"grad.{name}"] = np.zeros(tuple(p.shape), np.float32) if p.grad is None else p.grad.numpy()
    for name, b in model.named_buffers():
        result[f"buffer.{name}"] = b.detach().numpy().copy()
    write_safetensors(path.replace(".safetensors", ".out.safetensors"), result)


def train_run(data_path, out_path):
    tensors, metadata = read_safetensors(data_path)
    config = json.loads(metadata["config"])
    torch.manual_seed(int(config.get("seed", 0)))
    model = SingleCellVariationalInference(config, tensors["x_ng"].shape[1])
    load_state(model, tensors)
    x, batch, cov, umis = model_inputs(tensors, model)
    steps = torch.tensor(tensors["steps"]).long()
    result = train_loop(model, config, x, batch, cov, umis, steps)
    with open(out_path, "w") as f:
        json.dump(result, f)


def train_loop(model, config, x, batch, cov, umis, steps):
    """Lightning's loop as upstream runs it: forward k sees step = k and epoch = the epoch of batch k - 1
    (upstream's on_train_batch_end records trainer.current_epoch after the batch), zero_grad sets None."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(config["lr"]), weight_decay=float(config.get("weight_decay", 0.01)))
    clip = config.get("gradient_clip_val")
    spe = int(config["steps_per_epoch"])
    warm_epochs = config.get("kl_warmup_epochs", 400)
    warm_steps = config.get("kl_warmup_steps")
    if warm_epochs is not None and warm_steps is not None:
        raise ValueError("only one of kl_warmup_epochs or kl_warmup_steps can be specified")
    start = float(config.get("kl_annealing_start", 0.0))
    model.train()
    losses, recs, weights = [], [], []
    for k in range(steps.shape[0]):
        rows = steps[k]
        epoch = 0 if k == 0 else (k - 1) // spe
        w = compute_annealed_kl_weight(epoch, k, warm_epochs, warm_steps, 1.0, start)
        out = model(x[rows], batch[rows], None if cov is None else cov[rows], None, None, w, None if umis is None else umis[rows])
        out["loss"].backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], float(clip))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out["loss"].item())
        recs.append(out["reconstruction_loss_n"].mean().item())
        weights.append(w)
    return {"loss": losses, "reconstruction_loss": recs, "kl_weight": weights}


def example_train_config(n_input, n_batch=4, n_cats_per_cov=(3,)):
    """The model init args of upstream's examples/other_configs/scvi_pbmc_train_config.yaml."""
    structured = lambda name, width: {
        "class_path": SCVI + name,
        "init_args": {**({} if width is None else {"out_features": width}), "label_to_bias_hidden_layers": []},
    }
    return {
        "n_input": n_input,
        "n_batch": n_batch,
        "n_cats_per_cov": list(n_cats_per_cov),
        "batch_embedded": True,
        "batch_representation_sampled": True,
        "n_latent_batch": None,
        "batch_kl_weight_max": 0.01,
        "kl_warmup_epochs": 20,
        "encoder": {
            "hidden_layers": [structured("LinearWithCovariates", 128)],
            "final_layer": {"class_path": "torch.nn.Linear", "init_args": {}},
        },
        "decoder": {
            "hidden_layers": [structured("LinearWithBatchAndCovariates", 128)],
            "final_layer": structured("LinearWithBatchAndCovariates", None),
            "final_additive_bias": True,
        },
        "n_latent": 10,
        "n_continuous_cov": 0,
        "dropout_rate": 0.1,
        "dispersion": "gene",
        "log_variational": True,
        "gene_likelihood": "nb",
        "latent_distribution": "normal",
        "use_batch_norm": "both",
        "use_layer_norm": "none",
        "use_size_factor_key": False,
    }


def bench(argv):
    opts = {"--cells": 10000, "--genes": 2000, "--batch-size": 512, "--epochs": 1, "--threads": 1, "--data": None}
    for i in range(0, len(argv), 2):
        if argv[i] not in opts or i + 1 >= len(argv):
            sys.exit(__doc__)
        opts[argv[i]] = argv[i + 1] if argv[i] == "--data" else int(argv[i + 1])
    bs, epochs = opts["--batch-size"], opts["--epochs"]
    torch.set_num_threads(opts["--threads"])
    rng = np.random.default_rng(0)
    if opts["--data"] is not None:
        # an .h5ad of raw counts with categorical obs batch and chemistry (make-scvi-data.py),
        # held in memory as dense float32: the peer reads nothing while it trains
        import anndata

        adata = anndata.read_h5ad(opts["--data"])
        x = np.asarray(adata.X.toarray(), dtype=np.float32)
        n, g = x.shape
        batch = adata.obs["batch"].cat.codes.to_numpy().astype(np.int64)
        cov = adata.obs["chemistry"].cat.codes.to_numpy().astype(np.int64)[:, None]
        n_batch, n_cats = len(adata.obs["batch"].cat.categories), len(adata.obs["chemistry"].cat.categories)
    else:
        n, g = opts["--cells"], opts["--genes"]
        base_g = rng.lognormal(-1.0, 1.2, g).astype(np.float32)
        x = np.empty((n, g), np.float32)
        for s in range(0, n, 4096):
            m = min(4096, n - s)
            scale = rng.lognormal(0.0, 0.5, (m, 1)) * rng.lognormal(0.0, 0.3, (m, g))
            x[s : s + m] = rng.poisson(base_g * scale * (2000.0 / base_g.sum() * 2)).astype(np.float32)
        x[x.sum(1) == 0, 0] = 1
        batch = rng.integers(0, 4, n).astype(np.int64)
        cov = rng.integers(0, 3, (n, 1)).astype(np.int64)
        n_batch, n_cats = 4, 3
    config = example_train_config(g, n_batch, (n_cats,))
    torch.manual_seed(0)
    model = SingleCellVariationalInference(config, g)
    init_like_upstream(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    spe = (n + bs - 1) // bs
    begin = time.perf_counter()
    k = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, bs):
            rows = order[s : s + bs]
            w = compute_annealed_kl_weight(0 if k == 0 else (k - 1) // spe, k, 20, None)
            out = model(torch.from_numpy(x[rows]), torch.from_numpy(batch[rows]), torch.from_numpy(cov[rows]), kl_weight=w)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 10.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            k += 1
    seconds = time.perf_counter() - begin
    print(
        json.dumps(
            {
                "cells_per_s": n * epochs / seconds,
                "epochs_per_s": epochs / seconds,
                "seconds": seconds,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


# ---------------------------------------------------------------- self-checks


def nb_closed_form(x, mu, theta):
    return (
        math.lgamma(x + theta)
        - math.lgamma(theta)
        - math.lgamma(x + 1)
        + theta * math.log(theta / (theta + mu))
        + (x * math.log(mu / (theta + mu)) if x > 0 else 0.0)
    )


def tiny_config(**over):
    c = {
        "n_batch": 3,
        "n_latent": 2,
        "n_cats_per_cov": [2, 3],
        "dropout_rate": 0.0,
        "encoder": {
            "hidden_layers": [
                {"class_path": SCVI + "LinearWithBatch", "init_args": {"out_features": 5, "label_to_bias_hidden_layers": [3]}},
                {"class_path": "torch.nn.Linear", "init_args": {"out_features": 4}},
            ],
            "final_layer": {"class_path": SCVI + "LinearWithCovariates", "init_args": {"label_to_bias_hidden_layers": []}},
        },
        "decoder": {
            "hidden_layers": [
                {"class_path": SCVI + "LinearWithBatchAndCovariates", "init_args": {"out_features": 4, "label_to_bias_hidden_layers": []}}
            ],
            "final_layer": {"class_path": SCVI + "LinearWithBatchAndCovariates", "init_args": {"label_to_bias_hidden_layers": [2]}},
            "final_additive_bias": True,
        },
    }
    c.update(over)
    return c


def selfcheck():
    failures = []
    report = {}

    def check(name, ok, detail=""):
        report[name] = bool(ok)
        if not ok:
            failures.append(f"{name}: {detail}")

    torch.set_default_dtype(torch.float64)
    # 1. Likelihoods against closed forms (math.lgamma) and torch.distributions.
    values = [(0.0, 0.5, 0.3), (0.0, 20.0, 3.0), (1.0, 0.1, 1.0), (3.0, 2.5, 0.7), (17.0, 9.0, 12.0), (250.0, 180.0, 4.0), (5.0, 3.0, 150.0)]
    x = torch.tensor([v[0] for v in values])
    mu = torch.tensor([v[1] for v in values])
    theta = torch.tensor([v[2] for v in values])
    ours = nb_log_prob(x, mu, theta)
    closed = torch.tensor([nb_closed_form(*v) for v in values])
    check("nb_closed_form", torch.allclose(ours, closed, rtol=1e-12, atol=1e-10), f"{ours} vs {closed}")
    td = torch.distributions.NegativeBinomial(total_count=theta, logits=torch.log(mu) - torch.log(theta)).log_prob(x)
    check("nb_torch_distributions", torch.allclose(ours, td, rtol=1e-9, atol=1e-9), f"{ours} vs {td}")
    # Stirling branch (theta > 200): an approximation of the lgamma difference, error ~ x^2 / (12 theta^2)
    big = [(0.0, 4.0, 250.0), (3.0, 4.0, 300.0), (12.0, 10.0, 1000.0), (40.0, 30.0, 5000.0)]
    ours_big = nb_log_prob(*(torch.tensor([v[i] for v in big]) for i in range(3)))
    closed_big = torch.tensor([nb_closed_form(*v) for v in big])
    check("nb_stirling", torch.allclose(ours_big, closed_big, atol=1e-4, rtol=0), f"{ours_big} vs {closed_big}")
    check("nb_stirling_used", not torch.equal(ours_big[1:], closed_big[1:]), "the theta > 200 branch is not the exact form")
    rate = torch.tensor([0.3, 2.0, 7.5, 40.0])
    xp = torch.tensor([0.0, 3.0, 7.0, 51.0])
    closed_p = torch.tensor([k * math.log(r) - r - math.lgamma(k + 1) for k, r in zip(xp.tolist(), rate.tolist())])
    check("poisson", torch.allclose(poisson_log_prob(xp, rate), closed_p, rtol=1e-12), "")
    logits = torch.tensor([-2.0, 0.5, 1.5, -0.3, 3.0, 0.0, -1.0])
    ours_z = zinb_log_prob(x, mu, theta, logits)
    closed_z = []
    for (k, m, t), l in zip(values, logits.tolist()):
        pi = 1 / (1 + math.exp(-l))
        nb = math.exp(nb_closed_form(k, m, t))
        closed_z.append(math.log(pi + (1 - pi) * nb) if k == 0 else math.log(1 - pi) + math.log(nb))
    closed_z = torch.tensor(closed_z)
    check("zinb_closed_form", torch.allclose(ours_z, closed_z, rtol=1e-6, atol=1e-6), f"{ours_z} vs {closed_z}")
    loc, scale = torch.randn(6, 3), torch.rand(6, 3) + 0.2
    kl_td = torch.distributions.kl_divergence(torch.distributions.Normal(loc, scale), torch.distributions.Normal(0.0, 1.0))
    check("kl_normal", torch.allclose(kl_normal_std_normal(loc, scale), kl_td, rtol=1e-12), "")
    check(
        "kl_warmup",
        compute_annealed_kl_weight(5, 0, 20, None) == 0.25
        and compute_annealed_kl_weight(20, 0, 20, None) == 1.0
        and compute_annealed_kl_weight(0, 50, None, 200, 1.0, 0.2) == 0.4
        and compute_annealed_kl_weight(3, 500, None, 200) == 1.0
        and compute_annealed_kl_weight(3, 500, None, None) == 1.0,
        "",
    )

    # 2. Gradients against finite differences (float64), over every parameter, for several variants.
    variants = {
        "example_structure": {},
        "embedded_sampled_nb_gene": {"batch_embedded": True, "batch_representation_sampled": True, "n_latent_batch": 2, "batch_kl_weight_max": 0.3},
        "embedded_point_gene_batch": {"batch_embedded": True, "n_latent_batch": 4, "dispersion": "gene-batch"},
        "gene_cell_zinb_layernorm": {"dispersion": "gene-cell", "gene_likelihood": "zinb", "use_batch_norm": "none", "use_layer_norm": "both"},
        "poisson_encoder_bn": {"gene_likelihood": "poisson", "use_batch_norm": "encoder", "log_variational": False},
    }
    gen = torch.Generator().manual_seed(3)
    n, g = 6, 5
    xs = torch.poisson(torch.rand(n, g, generator=gen) * 6) + torch.eye(n, g) * 2
    batch = torch.tensor([0, 1, 2, 0, 1, 2])
    cov = torch.tensor([[0, 2], [1, 0], [0, 1], [1, 2], [0, 0], [1, 1]])
    for name, over in variants.items():
        torch.manual_seed(1)
        model = SingleCellVariationalInference(tiny_config(**over), g)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (0.1 if pname == "px_r" else 0.5) + (0.5 if "px_r" in pname else 0.0))
        model.train(name != "poisson_encoder_bn")
        eps_z = torch.randn(n, model.n_latent, generator=gen)
        eps_b = torch.randn(n, model.n_latent_batch, generator=gen)
        names = [k for k, _ in model.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_(True) for _, p in model.named_parameters())

        def f(*ps, model=model, names=names, eps_z=eps_z, eps_b=eps_b):
            out = torch.nn.utils.stateless.functional_call(model, dict(zip(names, ps)), (xs, batch, cov, eps_z, eps_b, 0.7))
            return out["loss"]

        try:
            ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-4)
        except Exception as e:  # gradcheck raises on a mismatch
            ok = False
            detail = str(e)[:2000]
        else:
            detail = ""
        check(f"gradcheck_{name}", ok, detail)
        value = f(*params)
        check(f"finite_{name}", bool(torch.isfinite(value)), str(value))
    torch.set_default_dtype(torch.float32)

    # 3. Upstream's state_dict names for its example train config.
    entries = state_entries(SingleCellVariationalInference(example_train_config(7), 7))
    names = [e["name"] for e in entries]
    expected = [
        "batch_representation_mean_bd",
        "batch_representation_std_unconstrained_bd",
        "px_r",
        "z_encoder.fully_connected.module_list.0.layer.weight",
        "z_encoder.fully_connected.module_list.0.layer.bias",
        "z_encoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight",
        "z_encoder.fully_connected.module_list.0.dressing.0.weight",
        "z_encoder.fully_connected.module_list.0.dressing.0.bias",
        "z_encoder.fully_connected.module_list.0.dressing.0.running_mean",
        "z_encoder.fully_connected.module_list.0.dressing.0.running_var",
        "z_encoder.fully_connected.module_list.0.dressing.0.num_batches_tracked",
        "z_encoder.mean_encoder.weight",
        "z_encoder.mean_encoder.bias",
        "z_encoder.var_encoder.weight",
        "z_encoder.var_encoder.bias",
        "decoder.fully_connected.module_list.0.layer.weight",
        "decoder.fully_connected.module_list.0.layer.bias",
        "decoder.fully_connected.module_list.0.layer.bias_decoder.module_list.0.weight",
        "decoder.fully_connected.module_list.0.dressing.0.weight",
        "decoder.fully_connected.module_list.0.dressing.0.bias",
        "decoder.fully_connected.module_list.0.dressing.0.running_mean",
        "decoder.fully_connected.module_list.0.dressing.0.running_var",
        "decoder.fully_connected.module_list.0.dressing.0.num_batches_tracked",
        "decoder.normalized_count_decoder.weight",
        "decoder.normalized_count_decoder.bias",
        "decoder.normalized_count_decoder.bias_decoder.module_list.0.weight",
        "decoder.final_additive_bias_layer.0.module_list.0.weight",
    ]
    check("example_keys", names == expected, f"{names}")
    print(json.dumps(report))
    if failures:
        sys.exit("selfcheck failed:\n" + "\n".join(failures))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "keys" and len(sys.argv) == 3:
        with open(sys.argv[2]) as f:
            config = json.load(f)
        print(json.dumps(state_entries(SingleCellVariationalInference(config, n_input_of(config)))))
    elif cmd == "loss" and len(sys.argv) >= 3:
        for case in sys.argv[2:]:
            loss_case(case)
    elif cmd == "train" and len(sys.argv) == 4:
        train_run(sys.argv[2], sys.argv[3])
    elif cmd == "bench":
        bench(sys.argv[2:])
    elif cmd == "selfcheck" and len(sys.argv) == 2:
        selfcheck()
    else:
        sys.exit(__doc__)
