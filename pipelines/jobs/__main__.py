import sys

from pipelines.jobs.main import main

sys.exit(main())
