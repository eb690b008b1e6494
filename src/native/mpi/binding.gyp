{
  "targets": [
    {
      "target_name": "cellarium_mpi",
      "sources": ["cellarium_mpi.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra", "<!@(mpicc --showme:compile)"],
      "libraries": ["<!@(mpicc --showme:link)"]
    }
  ]
}
