#!/usr/bin/env bash
# Train the bundled style pack (and the three paintings held out from every tuning decision)
# with the default recipe for this machine, side by side, and export each style and its
# per-frame baseline (the image stage alone). On one CUDA GPU all twelve fit at once.
#
#   training/train_pack.sh DATA_DIR [NAME ...]
#
# DATA_DIR holds styles/*.jpg (the paintings), photos_small/ and clips/ (talking_head_d3, _d6,
# sam2_juggle, talking_head_d13_office, sam2_bedroom). Environment: BUDGET (seconds per style
# before it is stopped and exported as far as it got; default none), EXTRA (more `camstyle
# train` options, e.g. "--vgg-weights FILE"), LOGS (folder for the logs, default ./pack-logs).
# The styles are installed in the user's styles folder; copy them to styles/ to ship them.
set -u
D=${1:?usage: train_pack.sh DATA_DIR [NAME ...]}; shift
ONLY=" $* "
LOGS=${LOGS:-pack-logs}; mkdir -p "$LOGS"
PY=${PY:-python3}
PHOTOS=("$D/photos_small" "$D/clips/talking_head_d3.mp4" "$D/clips/talking_head_d6.mp4")
VIDEOS=("$D/clips/sam2_juggle.mp4" "$D/clips/talking_head_d13_office.mp4" "$D/clips/sam2_bedroom.mp4")

one() {  # name painting title artist year
  local name=$1 img=$2 title=$3 artist=$4 year=$5 t0=$SECONDS rc
  [[ "$ONLY" == "  " || "$ONLY" == *" $name "* ]] || return 0
  local stop=()
  [ -n "${BUDGET:-}" ] && stop=(timeout -s INT -k 60 "$BUDGET")
  # shellcheck disable=SC2086  # EXTRA is a list of options
  "${stop[@]}" "$PY" -m camstyle.cli train "$D/styles/$img" --name "$name" --data "${PHOTOS[@]}" \
    --temporal-data "${VIDEOS[@]}" --threads 1 --title "$title" --artist "$artist" --year "$year" \
    ${EXTRA:-} > "$LOGS/$name.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && "$PY" -m camstyle.cli export "$name" >> "$LOGS/$name.log" 2>&1  # stopped: what it has
  local run
  run=$("$PY" -c "from camstyle import paths; print(paths.data_dir() / 'runs' / '$name')")
  [ -f "$run/baseline.pt" ] && "$PY" -m camstyle.cli export "$run/baseline.pt" --name "${name}_baseline" >> "$LOGS/$name.log" 2>&1
  cp "$run/log.jsonl" "$LOGS/$name.log.jsonl" 2>/dev/null
  echo "$name rc=$rc wall=$((SECONDS - t0))s" >> "$LOGS/summary.txt"
}

pids=()
while IFS='|' read -r name img title artist year; do
  one "$name" "$img" "$title" "$artist" "$year" & pids+=($!)
done <<'PACK'
starry_night|starry_night.jpg|The Starry Night|Vincent van Gogh|1889
the_scream|the_scream.jpg|The Scream|Edvard Munch|1893
mondrian|mondrian_cubist.jpg|Cubist grid composition|Piet Mondrian|1913
udnie|udnie.jpg|Udnie|Francis Picabia|1913
great_wave|great_wave.jpg|Under the Wave off Kanagawa|Katsushika Hokusai|1831
composition_vii|composition_vii.jpg|Composition VII|Wassily Kandinsky|1913
grande_jatte|grande_jatte_study.jpg|Study for A Sunday on La Grande Jatte|Georges Seurat|1884
straw_hat|vangogh_straw_hat.jpg|Self-Portrait with a Straw Hat|Vincent van Gogh|1887
water_lilies|water_lilies.jpg|Water Lilies|Claude Monet|1919
cezanne_jas_de_bouffan|cezanne_jas_de_bouffan.jpg|Trees and Houses Near the Jas de Bouffan|Paul Cézanne|1885
edtaonisl|edtaonisl.jpg|Edtaonisl (Ecclésiastique)|Francis Picabia|1913
shipwreck_minotaur|shipwreck_minotaur.jpg|The Shipwreck of the Minotaur|J. M. W. Turner|1810
PACK
wait "${pids[@]}"
cat "$LOGS/summary.txt"
