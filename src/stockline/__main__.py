from stockline.cli import main

raise SystemExit(main())
