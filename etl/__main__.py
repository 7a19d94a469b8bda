from etl.cli import main

# Guarded: parse workers start from a fork server, which imports the main module.
if __name__ == "__main__":
    main()
