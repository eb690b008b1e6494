{
  "targets": [
    {
      "target_name": "cellarium_native",
      "sources": ["cellarium_native.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-lopenblas"]
    }
  ]
}
