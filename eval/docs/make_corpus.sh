#!/bin/sh
# Regenerate eval/docs/corpus/<tool>.txt: the installed Debian manual pages of
# eight command-line tools, rendered to plain UTF-8 text at 80 columns with
# backspace overstrikes removed (col -bx). Run from anywhere:
#     sh eval/docs/make_corpus.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus"
mkdir -p "$out"
LC_ALL=C.UTF-8
export LC_ALL
for tool in grep find sed xargs tar gzip make ssh; do
    MANWIDTH=80 man -P cat "$tool" 2>/dev/null | col -bx > "$out/$tool.txt"
    if grep -qP '\x08|\x1b' "$out/$tool.txt"; then
        echo "control characters left in $tool.txt" >&2
        exit 1
    fi
    if [ ! -s "$out/$tool.txt" ]; then
        echo "no manual page rendered for $tool" >&2
        exit 1
    fi
done
wc -c "$out"/*.txt
