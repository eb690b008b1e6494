"""The peer of bench/mpi-allreduce.ts: torch.distributed's all_reduce (gloo, the CPU backend of
PyTorch DDP) over loopback TCP, on the same buffer sizes and dtypes, N processes on this machine.
Prints one JSON line per (dtype, size) with the median seconds per call, as rank 0 measures it.
Usage: /usr/bin/python3 bench/torch_allreduce.py N PORT SIZE...
"""

import json
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank: int, world: int, port: int, sizes: list) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    for dtype in (torch.float64, torch.float32):
        for size in sizes:
            buffer = torch.full((size,), float(rank + 1), dtype=dtype)
            calls = max(3, min(200, round(2e7 / size)))
            dist.all_reduce(buffer)
            seconds = []
            for _ in range(calls):
                dist.barrier()
                start = time.perf_counter()
                dist.all_reduce(buffer)
                seconds.append(time.perf_counter() - start)
            seconds.sort()
            if rank == 0:
                name = "float64" if dtype == torch.float64 else "float32"
                print(json.dumps({"dtype": name, "size": size, "seconds": seconds[calls // 2]}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    world, port = int(sys.argv[1]), int(sys.argv[2])
    sizes = [int(s) for s in sys.argv[3:]]
    mp.spawn(run, args=(world, port, sizes), nprocs=world, join=True)
