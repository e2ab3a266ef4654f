#!/usr/bin/env python
from plug2support.__main__ import main

if __name__ == "__main__":
    main()
