# Count the words of every line whose number modulo $parts equals $part.
NR % parts == part {
  for (i = 1; i <= NF; i++) { w = tolower($i); gsub(/[^a-z]/, "", w); if (w != "") n[w]++ }
}
END {
  for (w in n) print n[w], w > "counts.txt"
  total = 0; for (w in n) total += n[w]
  print total
}
