from berth_cli.main import run

run()
