"""`python -m tagger`: the same command line as `tagger`."""

from tagger.cli import main

if __name__ == "__main__":
    main()
