{
  "targets": [
    {
      "target_name": "cellarium_native",
      "sources": ["cellarium_native.c"],
      "cflags": ["-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-lopenblas"]
    }
  ]
}
