# The PyTorch side of bench/pca-steps.ts: the same models written in plain torch (autograd and
# torch.optim.Adam), timed per training step on the same shapes. Reads a JSON list of cases on
# stdin, prints {"steps_per_s": [...]} (one value per case).
import json, math, sys, time
import torch

inp = json.load(sys.stdin)
torch.set_num_threads(inp["threads"])
torch.manual_seed(0)
LOG_2PI = math.log(2 * math.pi)


def lr_loss(x, y, W, b, n_obs, prior_scale):
    logits = x @ W + b
    nll = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
    log_prior = (-W.abs() / prior_scale - math.log(2 * prior_scale)).sum()
    return nll * n_obs / x.shape[0] - log_prior


def ppca_loss(flavor, x, W, log_sigma, mean, n_obs):
    n, g = x.shape
    k = W.shape[0]
    r = x - mean
    s2 = torch.exp(2 * log_sigma)
    M = W @ W.T + s2 * torch.eye(k)
    u = r @ W.T
    if flavor == "marginalized":
        L = torch.linalg.cholesky(M)
        quad = ((r * r).sum() - (u * torch.cholesky_solve(u.T, L).T).sum()) / s2
        logdet = (g - k) * torch.log(s2) + 2 * torch.log(torch.diagonal(L)).sum()
        return 0.5 * (n * logdet + quad + n * g * LOG_2PI) * n_obs / n
    mu = torch.linalg.solve(M, u.T).T
    D = torch.exp(log_sigma) / torch.sqrt(torch.diagonal(M))
    eps = torch.randn(n, k)
    z = mu + D * eps
    resid = r - z @ W
    elbo = (-0.5 * (resid * resid).sum() / s2 - n * g * log_sigma - 0.5 * (z * z).sum()
            + 0.5 * (eps * eps).sum() + n * torch.log(D).sum())
    return -elbo * n_obs / n


out = []
for case in inp["cases"]:
    n, g, k = case["n"], case["g"], case["k"]
    x = torch.randn(n, g)
    if case["model"] == "logistic_regression":
        y = torch.randint(0, k, (n,))
        params = [torch.randn(g, k).requires_grad_(), torch.zeros(k, requires_grad=True)]
        step_loss = lambda: lr_loss(x, y, params[0], params[1], 10 * n, 1.0)
    else:
        params = [(0.1 * torch.randn(k, g)).requires_grad_(), torch.zeros((), requires_grad=True),
                  torch.zeros(g, requires_grad=True)]
        step_loss = lambda: ppca_loss(case["flavor"], x, params[0], params[1], params[2], 10 * n)
    opt = torch.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad()
        step_loss().backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(case["steps"]):
        step()
    out.append(case["steps"] / (time.perf_counter() - start))
print(json.dumps({"steps_per_s": out}))
