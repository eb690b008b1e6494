{
  "targets": [
    {
      "target_name": "cellarium_native",
      "sources": ["cellarium_native.c"],
      "cflags": ["-O3", "-fno-trapping-math", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-lopenblas"]
    }
  ]
}
