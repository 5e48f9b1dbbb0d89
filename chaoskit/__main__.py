from chaoskit.cli import run_main

run_main()
