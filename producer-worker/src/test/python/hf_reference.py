"""Logits of Hugging Face checkpoints computed outside the project, in NumPy (float64).

A forward pass written from transformers' modeling_llama.py and modeling_gpt2.py (4.41), with
no code of this project: it reads config.json and model.safetensors itself. Its outputs are
the expected values of SameDiffModel's tests (producer-worker/src/test/resources/hf/):

    python3 hf_reference.py logits DIR OUT      # DIR's logits on reference_tokens(V), [16, V]
    python3 hf_reference.py llama-random DIR    # a random GQA Llama with a tied head
    python3 hf_reference.py gpt2-random DIR     # a random GPT-2 with biases

The random checkpoints are written as save_pretrained writes them (config.json,
model.safetensors of F32 tensors with Hugging Face's names); OUT is raw little-endian float32.
"""
import json
import struct
import sys

import numpy as np

T = 16


def reference_tokens(vocab):
    return [(37 * i + 11) % vocab for i in range(T)]


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        a, b = entry["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(entry["shape"])
    return {k: v.astype(np.float64) for k, v in out.items()}


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def causal_attention(q, k, v):  # [H, T, hd] each
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    scores = scores + np.triu(np.full((T, T), -np.inf), 1)
    return softmax(scores) @ v


def llama(cfg, w, ids):
    c, h = cfg["hidden_size"], cfg["num_attention_heads"]
    kv, hd = cfg.get("num_key_value_heads", h), c // h
    eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)

    def rms(x, g):
        return g * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))

    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    freqs = np.arange(T)[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], -1)  # [T, hd]
    cos, sin = np.cos(emb), np.sin(emb)

    def rope(x):  # [n, T, hd]
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)  # rotate_half
        return x * cos + rot * sin

    x = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        a = rms(x, w[p + "input_layernorm.weight"])
        q = (a @ w[p + "self_attn.q_proj.weight"].T).reshape(T, h, hd).transpose(1, 0, 2)
        k = (a @ w[p + "self_attn.k_proj.weight"].T).reshape(T, kv, hd).transpose(1, 0, 2)
        v = (a @ w[p + "self_attn.v_proj.weight"].T).reshape(T, kv, hd).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        k, v = np.repeat(k, h // kv, 0), np.repeat(v, h // kv, 0)  # repeat_kv
        y = causal_attention(q, k, v).transpose(1, 0, 2).reshape(T, c)
        x = x + y @ w[p + "self_attn.o_proj.weight"].T
        n = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = n @ w[p + "mlp.gate_proj.weight"].T
        silu = gate / (1 + np.exp(-gate))
        x = x + (silu * (n @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def gpt2(cfg, w, ids):
    c, h = cfg["n_embd"], cfg["n_head"]
    eps = cfg["layer_norm_epsilon"]

    def ln(x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g + b

    def act(x):
        name = cfg["activation_function"]
        if name == "gelu_new":
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        if name == "relu":
            return np.maximum(x, 0)
        raise ValueError(name)

    t = "transformer."
    x = w[t + "wte.weight"][ids] + w[t + "wpe.weight"][:T]
    for l in range(cfg["n_layer"]):
        p = t + "h.%d." % l
        a = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: x W + b
        q, k, v = (qkv[:, i * c:(i + 1) * c].reshape(T, h, c // h).transpose(1, 0, 2)
                   for i in range(3))
        y = causal_attention(q, k, v).transpose(1, 0, 2).reshape(T, c)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = ln(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        m = act(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = ln(x, w[t + "ln_f.weight"], w[t + "ln_f.bias"])
    return x @ w[t + "wte.weight"].T  # tied head


def random_llama(out):
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
           "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
           "num_hidden_layers": 2, "vocab_size": 300, "max_position_embeddings": 64,
           "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "tie_word_embeddings": True,
           "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
           "rope_scaling": None, "torch_dtype": "float32", "bos_token_id": 1,
           "eos_token_id": 2}
    r = np.random.default_rng(29)
    c, m, hd = 32, 48, 8
    w = {"model.embed_tokens.weight": r.normal(0, 0.5, (300, c)),
         "model.norm.weight": r.uniform(0.5, 1.5, c)}
    for l in range(2):
        p = "model.layers.%d." % l
        shapes = {"self_attn.q_proj": (4 * hd, c), "self_attn.k_proj": (2 * hd, c),
                  "self_attn.v_proj": (2 * hd, c), "self_attn.o_proj": (c, 4 * hd),
                  "mlp.gate_proj": (m, c), "mlp.up_proj": (m, c), "mlp.down_proj": (c, m)}
        for name, shape in shapes.items():
            w[p + name + ".weight"] = r.normal(0, 0.3, shape)
        w[p + "input_layernorm.weight"] = r.uniform(0.5, 1.5, c)
        w[p + "post_attention_layernorm.weight"] = r.uniform(0.5, 1.5, c)
    return cfg, w


def random_gpt2(out):
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32,
           "n_head": 4, "n_layer": 2, "n_positions": 32, "n_ctx": 32, "n_inner": None,
           "vocab_size": 300, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "tie_word_embeddings": True, "scale_attn_weights": True,
           "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
           "torch_dtype": "float32", "bos_token_id": 299, "eos_token_id": 299}
    r = np.random.default_rng(30)
    c = 32
    t = "transformer."
    w = {t + "wte.weight": r.normal(0, 0.5, (300, c)), t + "wpe.weight": r.normal(0, 0.3, (32, c)),
         t + "ln_f.weight": r.uniform(0.5, 1.5, c), t + "ln_f.bias": r.normal(0, 0.1, c)}
    for l in range(2):
        p = t + "h.%d." % l
        for name, shape in {"attn.c_attn": (c, 3 * c), "attn.c_proj": (c, c),
                            "mlp.c_fc": (c, 4 * c), "mlp.c_proj": (4 * c, c)}.items():
            w[p + name + ".weight"] = r.normal(0, 0.3, shape)
            w[p + name + ".bias"] = r.normal(0, 0.1, shape[1])
        for name in ("ln_1", "ln_2"):
            w[p + name + ".weight"] = r.uniform(0.5, 1.5, c)
            w[p + name + ".bias"] = r.normal(0, 0.1, c)
    return cfg, w


def main():
    if sys.argv[1] == "logits":
        d = sys.argv[2]
        cfg = json.load(open(d + "/config.json"))
        w = read_safetensors(d + "/model.safetensors")
        forward = gpt2 if cfg["model_type"] == "gpt2" else llama
        logits = forward(cfg, w, reference_tokens(cfg["vocab_size"]))
        logits.astype("<f4").tofile(sys.argv[3])
        print("logits", logits.shape, "of", d, "row 15 starts", logits[15, :3])
    else:
        d = sys.argv[2]
        cfg, w = (random_llama if sys.argv[1] == "llama-random" else random_gpt2)(d)
        json.dump(cfg, open(d + "/config.json", "w"), indent=2)
        w = {k: v.astype(np.float32) for k, v in w.items()}
        write_safetensors(d + "/model.safetensors", w)
        print("wrote", d)


if __name__ == "__main__":
    main()
