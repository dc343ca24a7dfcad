"""`python -m review.cli`: the same as the `review` console command."""

from review.cli import main

main()
