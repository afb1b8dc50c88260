from coachline.cli import main

main()
