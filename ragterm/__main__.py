from ragterm.cli import main

main()
