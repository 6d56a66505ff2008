"""The benchmark of the converter pipeline (`make bench`); bench/README.md explains what it measures."""
