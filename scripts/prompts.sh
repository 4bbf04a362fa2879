#!/usr/bin/env bash
# Generates the shipped system prompts in media/audio/system/<lang>/<name>.wav:
# 8 kHz, mono, signed 16-bit PCM, trimmed of leading and trailing silence and
# normalised to -3 dBFS peak; beep is a 1 kHz tone and moh-default a synthesised
# 30 s melody at -12 dBFS peak. The WAVs are committed: run this only to change
# them (needs espeak-ng and sox: apt-get install -y espeak-ng sox).
set -euo pipefail

lang=en
voice=en-us+f3 # espeak-ng voice: American English, a female variant
speed=145      # words per minute
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/media/audio/system/$lang

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || { echo "prompts.sh: $tool is missing (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# -R seeds sox's random generators (pluck's excitation) so runs repeat.
sox() { command sox -R "$@"; }

# The target format: -D keeps the output reproducible (no random dither).
fmt8k=(-D -r 8000 -c 1 -b 16 -e signed-integer)

say() { # say NAME TEXT
	espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$2"
	sox "$tmp/raw.wav" "${fmt8k[@]}" "$out/$1.wav" \
		rate -v 8000 \
		silence 1 0.02 0.5% fade t 0.005 reverse \
		silence 1 0.02 0.5% fade t 0.01 reverse norm -3
}

digits=(zero one two three four five six seven eight nine)
for d in "${!digits[@]}"; do
	say "digit-$d" "${digits[$d]}"
done
say please-hold "please hold"
say invalid-option "that is not a valid option"
say goodbye "goodbye"
say not-available "the person you are calling is not available"
say caller-number "you are caller number"
say leave-message "please leave a message after the tone"
say call-recorded "this call may be recorded"
say enter-name "please enter the first letters of the person's name"
say press-1-to-connect "to connect, press 1"
say no-match "there is no one by that name"
say mode-day "day mode"
say mode-night "night mode"

# beep: 1 kHz for 0.25 s, with 5 ms ramps so it does not click.
sox -n "${fmt8k[@]}" "$out/beep.wav" synth 0.25 sine 1000 fade t 0.005 0.25 0.005 norm -3

# moh-default: twelve bars of 2.5 s over C - Am - F - G, each a soft sine pad
# under a plucked arpeggio in eighth notes (96 bpm), mixed at their offsets,
# softened by a low-pass and a little reverb, faded in and out, 30 s at
# -12 dBFS peak.
bar=2.5
step=0.3125
chords=("C4 E4 G4" "A3 C4 E4" "F3 A3 C4" "G3 B3 D4")
arp=(0 1 2 3 2 1 0 1) # indices into the chord plus its root an octave up
i=0
parts=()
for round in 1 2 3; do
	for chord in "${chords[@]}"; do
		read -r n1 n2 n3 <<<"$chord"
		up=$(awk -v n="$n1" 'BEGIN{print substr(n,1,length(n)-1) (substr(n,length(n))+1)}')
		notes=("$n1" "$n2" "$n3" "$up")
		start=$(awk -v i="$i" -v b="$bar" 'BEGIN{printf "%.4f", i*b}')
		# Pad: the three chord tones as quiet sines, a bass an octave below the root.
		bass=$(awk -v n="$n1" 'BEGIN{print substr(n,1,length(n)-1) (substr(n,length(n))-1)}')
		sox -n "${fmt8k[@]}" "$tmp/pad.wav" synth $bar sine "$n1" sine "$n2" sine "$n3" sine "$bass" \
			remix - fade t 0.4 $bar 0.6 vol 0.08
		mix=(-v 1 "$tmp/pad.wav")
		for k in "${!arp[@]}"; do
			note=${notes[${arp[$k]}]}
			at=$(awk -v k="$k" -v s="$step" 'BEGIN{printf "%.4f", k*s}')
			sox -n "${fmt8k[@]}" "$tmp/n$k.wav" synth 1.2 pluck "$note" fade t 0.003 1.2 1.0 vol 0.35 pad "$at"
			mix+=(-v 1 "$tmp/n$k.wav")
		done
		sox -m "${mix[@]}" "${fmt8k[@]}" "$tmp/bar$i.wav" pad "$start"
		parts+=(-v 1 "$tmp/bar$i.wav")
		i=$((i + 1))
	done
done
sox -m "${parts[@]}" "${fmt8k[@]}" "$out/moh-default.wav" \
	lowpass 2200 reverb 35 trim 0 30 fade t 1 30 3 norm -12

ls -l "$out"
