"""Review: the service the console drives, its rules, views, browser, dashboard, accounts."""
