from camstyle.cli import main

raise SystemExit(main())
