from advcompress.cli import main

main()
