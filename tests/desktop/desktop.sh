# What the desktop tests share: a display of their own (Xvfb), a session
# bus, PCManFM on a folder, and screenshots.  Sourced after
# ../integration/functions.sh.
requires Xvfb pcmanfm xdotool xwd dbus-launch
CONVERT=/usr/bin/convert # ImageMagick's
[ -x "$CONVERT" ] || skip "ImageMagick's convert is not installed"
SHOTS=${SHOTS:-$TOP/build/desktop}
mkdir -p "$SHOTS"

# start_desktop: Xvfb on a free display, a home and a session bus.
start_desktop() {
    for n in $(seq 90 99); do [ -e "/tmp/.X11-unix/X$n" ] || break; done
    export DISPLAY=:$n
    Xvfb "$DISPLAY" -screen 0 800x500x24 -nolisten tcp >/dev/null 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 10 test -e "/tmp/.X11-unix/X$n" || fail "Xvfb did not start"
    export HOME=$(mktemp -d /tmp/vmsnapfs-desk.XXXXXX)
    on_exit "rm -rf '$HOME'"
    eval "$(dbus-launch --sh-syntax)"
    on_exit "kill $DBUS_SESSION_BUS_PID 2>/dev/null"
}

# open_folder DIR: a PCManFM window on DIR (a tab, where one is open
# already: the window takes the folder's name), drawn.
open_folder() {
    pcmanfm --no-desktop "$1" >>"$HOME/pcmanfm.log" 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 60 sh -c "xdotool search --onlyvisible --name '^$(basename "$1")' | grep -q ." ||
        fail "no PCManFM window on $1: $(cat "$HOME/pcmanfm.log")"
    sleep 2 # drawn
}

# shot NAME: the screen, in $SHOTS/NAME.png.
shot() { xwd -root -silent | "$CONVERT" xwd:- "$SHOTS/$1.png"; }

# not_blank NAME: the screenshot is a window, not an empty screen.
not_blank() {
    _colors=$("$CONVERT" "$SHOTS/$1.png" -format '%k' info:)
    [ "$_colors" -gt 8 ] || fail "$1.png has $_colors colours: a blank screen"
}
