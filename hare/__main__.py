from hare.cli import main

raise SystemExit(main())
