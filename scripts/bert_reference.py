#!/usr/bin/python3
"""Reference BERT masked-LM in plain PyTorch, for numerical parity tests of cellarium-ts's Geneformer.

The architecture follows Hugging Face's BertForMaskedLM (transformers' modeling_bert: BertEmbeddings,
BertSelfAttention with absolute / relative_key / relative_key_query positions, post-LayerNorm
BertLayer, BertLMPredictionHead with its decoder tied to the word embeddings plus a bias), written
from that description with torch only: transformers is not a Debian package. Weights and inputs
travel as safetensors files; safetensors is not in Debian either, so the format is read and written
with struct, json and numpy by safetensors_io.py (shared with scvi_reference.py).

Commands:
  run CASE.safetensors...   For each case file (weights under Hugging Face's names, int tensors
                            input_ids / attention_mask / labels, the config as JSON in the
                            metadata key "config"), writes CASE.out.safetensors: hidden_states.K,
                            attentions.K, logits, loss, and grad.<parameter name> per parameter.
  pretrained DIR            Writes a tiny Hugging Face-style checkpoint directory (config.json,
                            model.safetensors initialised by torch), Geneformer-style pickled
                            dictionaries (token_dictionary.pkl, gene_median_dictionary.pkl), a cell
                            block x.safetensors and the reference outputs expected.safetensors.
"""

import json
import math
import os
import pickle
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors_io import read_safetensors, write_safetensors


def activation(name):
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    if name == "silu":
        return F.silu
    if name == "gelu_new":
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    raise ValueError(name)


def parameter_shapes(config):
    """Hugging Face BertForMaskedLM parameter names and shapes (tied decoder omitted)."""
    h, v = config["hidden_size"], config["vocab_size"]
    m, i = config["max_position_embeddings"], config["intermediate_size"]
    d = h // config["num_attention_heads"]
    shapes = {
        "bert.embeddings.word_embeddings.weight": (v, h),
        "bert.embeddings.position_embeddings.weight": (m, h),
        "bert.embeddings.token_type_embeddings.weight": (config["type_vocab_size"], h),
        "bert.embeddings.LayerNorm.weight": (h,),
        "bert.embeddings.LayerNorm.bias": (h,),
    }
    for layer in range(config["num_hidden_layers"]):
        p = f"bert.encoder.layer.{layer}."
        for n in ("query", "key", "value"):
            shapes[p + f"attention.self.{n}.weight"] = (h, h)
            shapes[p + f"attention.self.{n}.bias"] = (h,)
        if config["position_embedding_type"] != "absolute":
            shapes[p + "attention.self.distance_embedding.weight"] = (2 * m - 1, d)
        shapes[p + "attention.output.dense.weight"] = (h, h)
        shapes[p + "attention.output.dense.bias"] = (h,)
        shapes[p + "attention.output.LayerNorm.weight"] = (h,)
        shapes[p + "attention.output.LayerNorm.bias"] = (h,)
        shapes[p + "intermediate.dense.weight"] = (i, h)
        shapes[p + "intermediate.dense.bias"] = (i,)
        shapes[p + "output.dense.weight"] = (h, i)
        shapes[p + "output.dense.bias"] = (h,)
        shapes[p + "output.LayerNorm.weight"] = (h,)
        shapes[p + "output.LayerNorm.bias"] = (h,)
    shapes["cls.predictions.bias"] = (v,)
    shapes["cls.predictions.transform.dense.weight"] = (h, h)
    shapes["cls.predictions.transform.dense.bias"] = (h,)
    shapes["cls.predictions.transform.LayerNorm.weight"] = (h,)
    shapes["cls.predictions.transform.LayerNorm.bias"] = (h,)
    return shapes


def bert_masked_lm(config, P, input_ids, attention_mask, dropout=0.0, logits_at=None):
    """Forward pass; returns (hidden_states list, attentions list, logits).

    dropout: Hugging Face's hidden and attention dropout probability in training mode (0: evaluation
    mode, as the parity tests run). logits_at: flat indices (b * s + position) where the vocabulary
    logits are wanted ([len, vocab]); None computes them at every position, as Hugging Face does.
    """
    h = config["hidden_size"]
    heads = config["num_attention_heads"]
    d = h // heads
    eps = config["layer_norm_eps"]
    m = config["max_position_embeddings"]
    kind = config["position_embedding_type"]
    act = activation(config["hidden_act"])
    b, s = input_ids.shape
    lin = lambda x, n: F.linear(x, P[n + ".weight"], P[n + ".bias"])
    ln = lambda x, n: F.layer_norm(x, (h,), P[n + ".weight"], P[n + ".bias"], eps)

    # BertEmbeddings: words + token types (all 0) + absolute positions, LayerNorm.
    x = P["bert.embeddings.word_embeddings.weight"][input_ids]
    x = x + P["bert.embeddings.token_type_embeddings.weight"][torch.zeros_like(input_ids)]
    if kind == "absolute":
        x = x + P["bert.embeddings.position_embeddings.weight"][torch.arange(s)][None]
    drop = lambda t: F.dropout(t, dropout, training=dropout > 0)
    x = drop(ln(x, "bert.embeddings.LayerNorm"))
    # get_extended_attention_mask: 0 where attended, the dtype's minimum elsewhere.
    extended = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min

    hidden_states, attentions = [x], []
    split = lambda t: t.view(b, s, heads, d).permute(0, 2, 1, 3)
    for layer in range(config["num_hidden_layers"]):
        p = f"bert.encoder.layer.{layer}."
        q, k, v = (split(lin(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2)
        if kind != "absolute":
            distance = torch.arange(s)[:, None] - torch.arange(s)[None, :]
            pos = P[p + "attention.self.distance_embedding.weight"][distance + m - 1]
            scores = scores + torch.einsum("bhld,lrd->bhlr", q, pos)
            if kind == "relative_key_query":
                scores = scores + torch.einsum("bhrd,lrd->bhlr", k, pos)
        scores = scores / math.sqrt(d) + extended
        probs = scores.softmax(-1)
        attentions.append(probs)
        context = (drop(probs) @ v).permute(0, 2, 1, 3).reshape(b, s, h)
        a = ln(drop(lin(context, p + "attention.output.dense")) + x, p + "attention.output.LayerNorm")
        x = ln(drop(lin(act(lin(a, p + "intermediate.dense")), p + "output.dense")) + a, p + "output.LayerNorm")
        hidden_states.append(x)

    t = x if logits_at is None else x.reshape(b * s, h)[logits_at]
    t = ln(act(lin(t, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm")
    logits = F.linear(t, P["bert.embeddings.word_embeddings.weight"], P["cls.predictions.bias"])
    return hidden_states, attentions, logits


def run(path):
    tensors, metadata = read_safetensors(path)
    config = json.loads(metadata["config"])
    P = {
        n: torch.tensor(tensors[n], dtype=torch.float32).requires_grad_(True)
        for n in parameter_shapes(config)
    }
    input_ids = torch.tensor(tensors["input_ids"], dtype=torch.long)
    attention_mask = torch.tensor(tensors["attention_mask"], dtype=torch.long)
    labels = torch.tensor(tensors["labels"], dtype=torch.long)
    hidden_states, attentions, logits = bert_masked_lm(config, P, input_ids, attention_mask)
    # BertForMaskedLM's loss: cross entropy over every position, labels -100 ignored.
    loss = F.cross_entropy(logits.view(-1, config["vocab_size"]), labels.view(-1), ignore_index=-100)
    loss.backward()
    # nn.Embedding(padding_idx=pad) gives the PAD row no gradient; the tied decoder still does.
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().numpy().reshape(1)}
    for i, t in enumerate(hidden_states):
        out[f"hidden_states.{i}"] = t.detach().numpy()
    for i, t in enumerate(attentions):
        out[f"attentions.{i}"] = t.detach().numpy()
    for n, p in P.items():
        # unused parameters (position_embeddings under relative positions) have no gradient: 0
        out[f"grad.{n}"] = np.zeros(p.shape, np.float32) if p.grad is None else p.grad.numpy()
    write_safetensors(path.replace(".safetensors", ".out.safetensors"), out)


def pretrained(directory):
    """A tiny Geneformer-like checkpoint written by torch, with its dictionaries and expected outputs."""
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(0)
    genes = [f"ENSG{i:011d}" for i in range(1, 25)]
    config = {
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
        "vocab_size": len(genes) + 2,
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": "relu",
        "hidden_dropout_prob": 0.02,
        "attention_probs_dropout_prob": 0.02,
        "max_position_embeddings": 16,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    # Weights as a trained model would have them (not the initialisation's zeros and ones).
    P = {n: torch.randn(shape) * 0.5 for n, shape in parameter_shapes(config).items()}
    P["bert.embeddings.word_embeddings.weight"][0] = 0
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    files = {n: p.numpy() for n, p in P.items()}
    # Hugging Face files keep the buffer position_ids in older versions; importers must skip it.
    files["bert.embeddings.position_ids"] = np.arange(16, dtype=np.int64)[None]
    write_safetensors(os.path.join(directory, "model.safetensors"), files, {"format": "pt"})
    # Geneformer's dictionaries: token ids in a shuffled gene order (not the order of the data),
    # medians as Python floats.
    order = np.random.default_rng(0).permutation(len(genes))
    tokens = {"<pad>": 0, "<mask>": 1}
    tokens.update({genes[g]: t + 2 for t, g in enumerate(order)})
    with open(os.path.join(directory, "token_dictionary.pkl"), "wb") as f:
        pickle.dump(tokens, f)
    medians = {g: float(m) for g, m in zip(genes, np.random.default_rng(1).uniform(0.5, 4.0, len(genes)))}
    with open(os.path.join(directory, "gene_median_dictionary.pkl"), "wb") as f:
        pickle.dump(medians, f)
    # Data over the dictionary's genes plus two it does not know, in the data's own order.
    data_genes = genes[::-1] + ["ENSG_UNKNOWN_1", "ENSG_UNKNOWN_2"]
    rng = np.random.default_rng(2)
    x = rng.poisson(rng.gamma(0.5, 3.0, (3, len(data_genes)))).astype(np.float32)
    x[2, :] = 0
    x[2, 3] = 5  # a cell with one gene
    write_safetensors(
        os.path.join(directory, "x.safetensors"), {"x_ng": x}, {"var_names_g": json.dumps(data_genes)}
    )
    # Reference tokenization: Geneformer divides by the medians, ranks descending, maps to tokens.
    scaled = {}
    for i in range(x.shape[0]):
        values = {g: x[i, j] for j, g in enumerate(data_genes) if g in tokens and x[i, j] != 0}
        ranked = sorted(values, key=lambda g: (-(values[g] / np.float32(medians[g])), tokens[g]))
        scaled[i] = ranked
    s = min(len(genes), config["max_position_embeddings"])
    input_ids = torch.zeros((x.shape[0], s), dtype=torch.long)
    for i, ranked in scaled.items():
        for p, g in enumerate(ranked[:s]):
            input_ids[i, p] = tokens[g]
    attention_mask = (input_ids != 0).long()
    with torch.no_grad():
        hidden_states, attentions, logits = bert_masked_lm(config, P, input_ids, attention_mask)
    write_safetensors(
        os.path.join(directory, "expected.safetensors"),
        {
            "input_ids": input_ids.numpy().astype(np.int32),
            "last_hidden_state": hidden_states[-1].numpy(),
            "logits": logits.numpy(),
        },
    )


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        for case in sys.argv[2:]:
            run(case)
    elif len(sys.argv) == 3 and sys.argv[1] == "pretrained":
        pretrained(sys.argv[2])
    else:
        sys.exit(__doc__)
