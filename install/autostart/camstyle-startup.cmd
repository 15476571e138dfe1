@echo off
rem CamStyle at login: `camstyle autostart enable` fills in the command and copies this file
rem into the Startup folder (shell:startup) as CamStyle.cmd.
start "CamStyle" /min @CAMSTYLE_EXEC@
