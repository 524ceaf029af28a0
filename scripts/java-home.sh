# Sourced by ./mvnw, ./fulgur and .ci/run: points JAVA_HOME at a JDK 25 or stops with a clear message.
fulgur_find_jdk25() {
  local candidate version
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25* /usr/lib/jvm/*25*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    version=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ "${version%%.*}" -ge 25 ] 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if ! FULGUR_JDK=$(fulgur_find_jdk25); then
  echo "fulgur: no JDK 25 found. Set JAVA_HOME to a JDK 25 or install one under /usr/lib/jvm (e.g. Temurin 25)." >&2
  exit 1
fi
export JAVA_HOME="$FULGUR_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
