<#
.SYNOPSIS
    Set up CamStyle in a virtual environment inside the repository (Windows).

.DESCRIPTION
    powershell -ExecutionPolicy Bypass -File install\setup.ps1          install CamStyle into .venv
    powershell -ExecutionPolicy Bypass -File install\setup.ps1 -Run     ... then start it (camstyle run; more arguments are passed on)
    powershell -ExecutionPolicy Bypass -File install\setup.ps1 -Train   ... with the training extra (torch)
    powershell -ExecutionPolicy Bypass -File install\setup.ps1 -Test    ... with the test and training extras, then run the tests

    Safe to run again: an up-to-date environment is reused and nothing is reinstalled.
#>
[CmdletBinding()]
param(
    [switch]$Run,
    [switch]$Train,
    [switch]$Test,
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]]$RunArguments = @()
)

$ErrorActionPreference = 'Stop'
$MinMinor = 10
$Repo = Split-Path -Parent $PSScriptRoot
$Venv = Join-Path $Repo '.venv'
$VenvPython = Join-Path $Venv 'Scripts\python.exe'
$env:PIP_DISABLE_PIP_VERSION_CHECK = '1'

function Say([string]$Message) { Write-Host "==> $Message" -ForegroundColor Cyan }
function Ok([string]$Message) { Write-Host "  ok  $Message" -ForegroundColor Green }
function Warn([string]$Message) { Write-Host "  !!  $Message" -ForegroundColor Yellow }
function Die([string]$Message) {
    Write-Host "camstyle setup: $Message" -ForegroundColor Red
    exit 1
}

function Test-PythonVersion([string[]]$Command) {
    # True when the command runs a Python 3.10 or newer.
    $exe = $Command[0]
    $prefix = @()
    if ($Command.Count -gt 1) { $prefix = $Command[1..($Command.Count - 1)] }
    try {
        & $exe @prefix -c "import sys; sys.exit(0 if sys.version_info >= (3, $MinMinor) else 1)" 2>$null | Out-Null
        return ($LASTEXITCODE -eq 0)
    } catch {
        return $false
    }
}

function Find-Python {
    if (Get-Command py -ErrorAction SilentlyContinue) {
        foreach ($version in '3.13', '3.12', '3.11', '3.10') {
            if (Test-PythonVersion @('py', "-$version")) { return @('py', "-$version") }
        }
    }
    foreach ($name in 'python3', 'python') {
        $found = Get-Command $name -ErrorAction SilentlyContinue
        # The WindowsApps "python" is only a shortcut to the Microsoft Store.
        if ($found -and ($found.Source -notlike '*\WindowsApps\*') -and (Test-PythonVersion @($found.Source))) {
            return @($found.Source)
        }
    }
    return $null
}

function New-Venv {
    if ((Test-Path $VenvPython) -and (Test-PythonVersion @($VenvPython))) {
        & $VenvPython -m pip --version 2>$null | Out-Null
        if ($LASTEXITCODE -eq 0) {
            Ok "using the existing environment $Venv ($(& $VenvPython -V))"
            return
        }
    }
    $python = Find-Python
    if (-not $python) {
        Die "CamStyle needs Python 3.$MinMinor or newer, and none was found. Install it from https://www.python.org/downloads/windows/ (tick 'Add python.exe to PATH') or with: winget install Python.Python.3.12 ; then run this again."
    }
    Say "Creating $Venv with $($python -join ' ')"
    if (Test-Path $Venv) { Remove-Item -Recurse -Force $Venv }
    $exe = $python[0]
    $prefix = @()
    if ($python.Count -gt 1) { $prefix = $python[1..($python.Count - 1)] }
    & $exe @prefix -m venv $Venv
    if ($LASTEXITCODE -ne 0) { Die "could not create a virtual environment with $($python -join ' ')." }
}

function Install-CamStyle {
    $extras = ''
    if ($Test) { $extras = 'test,train' } elseif ($Train) { $extras = 'train' }
    $spec = '.'
    if ($extras) { $spec = ".[$extras]" }
    $stamp = Join-Path $Venv '.camstyle-setup'
    $hash = (Get-FileHash (Join-Path $Repo 'pyproject.toml') -Algorithm SHA256).Hash
    $wanted = "$hash extras=$extras"
    if ((Test-Path $stamp) -and ((Get-Content $stamp) -contains $wanted)) {
        & $VenvPython -c "import camstyle" 2>$null | Out-Null
        if ($LASTEXITCODE -eq 0) {
            Ok "CamStyle is already installed and up to date"
            return
        }
    }
    Say "Installing CamStyle (pip install -e `"$spec`")"
    Push-Location $Repo
    try {
        & $VenvPython -m pip install -e $spec 2>&1 | Tee-Object -Variable pipOutput
        if ($LASTEXITCODE -ne 0) {
            if ("$pipOutput" -match "No space left on device|Errno 28|not enough space on the disk") {
                Die "The disk is full: pip ran out of space. Free a few GB (PyTorch, for -Train and -Test, takes several) on the disk of $Venv, in pip's cache (pip cache purge) and in the temporary folder, then run this again."
            }
            Die "pip could not install CamStyle. Read the pip error above (network? a missing Visual C++ runtime?), then run this again."
        }
    } finally {
        Pop-Location
    }
    $lines = @($wanted, "$hash extras=")
    if ($extras -eq 'test,train') { $lines += "$hash extras=train" }
    Set-Content -Path $stamp -Value $lines -Encoding ASCII
    Ok "installed: $(& (Join-Path $Venv 'Scripts\camstyle.exe') --version)"
}

function Invoke-Tests {
    Push-Location $Repo
    try {
        Say 'Running the tests'
        & $VenvPython -m pytest
        if ($LASTEXITCODE -ne 0) { Die 'tests failed (see above).' }
        Say 'Running the slow tests (pytest -m slow)'
        & $VenvPython -m pytest -m slow
        # 5 = no tests collected: there may be no slow tests.
        if ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 5) { Die 'slow tests failed (see above).' }
        Ok 'all tests passed'
    } finally {
        Pop-Location
    }
}

function Show-VirtualCameraHint {
    $obs = Get-ItemProperty -Path 'HKLM:\SOFTWARE\OBS Studio' -ErrorAction SilentlyContinue
    if (-not $obs) {
        Warn 'OBS Studio is not installed. CamStyle publishes through the OBS Virtual Camera: install OBS Studio 30+ from https://obsproject.com (OBS itself does not need to run).'
    }
}

New-Venv
Install-CamStyle
if ($Test) { Invoke-Tests }
if ($Run) {
    Show-VirtualCameraHint
    Say 'Starting CamStyle (Ctrl+C stops it)'
    Set-Location $Repo
    & (Join-Path $Venv 'Scripts\camstyle.exe') run @RunArguments
    exit $LASTEXITCODE
}
Write-Host ''
Write-Host 'CamStyle is installed. Use it with:'
Write-Host "  $Venv\Scripts\camstyle.exe run       start the virtual camera"
Write-Host "  $Venv\Scripts\camstyle.exe doctor    check camera, virtual camera, styles and hotkeys, with fixes"
Show-VirtualCameraHint
