#!/bin/sh
# Builds the UstbOpenAI NuGet package here, with Debian's tools: mcs compiles UstbOpenAI.cs
# (C# 7, Mono's .NET Framework 4.5 profile, so lib/net45), and nuget pack (nuget 2.8.7 on
# Mono) packs it with the native library under runtimes/linux-x64/native/ and
# build/UstbOpenAI.targets. Usage: pack.sh LIBRARY OUTDIR
#   LIBRARY  libustb_openai.so to bundle (e.g. $PREFIX/lib/libustb_openai.so from make install)
#   OUTDIR   where UstbOpenAI.VERSION.nupkg goes (a local feed for `nuget install -Source`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "csharp pack: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: pack.sh LIBRARY OUTDIR"
lib=$1 out=$2
for tool in mcs nuget; do
    command -v $tool >/dev/null 2>&1 ||
        die "'$tool' not found (Debian: apt-get install -y --no-install-recommends mono-mcs nuget)"
done
[ -f "$lib" ] || die "no library at $lib (make install PREFIX=..., or make build)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/net45" "$stage/runtimes/linux-x64/native" "$stage/build"
# -nowarn:1591: the XML doc file is written, though not every public member has a comment.
mcs -langversion:7 -warn:4 -warnaserror+ -nowarn:1591 -nologo -target:library \
    -doc:"$stage/lib/net45/UstbOpenAI.xml" -out:"$stage/lib/net45/UstbOpenAI.dll" "$here/UstbOpenAI.cs"
cp -L "$lib" "$stage/runtimes/linux-x64/native/libustb_openai.so"
cp "$here/build/UstbOpenAI.targets" "$stage/build/"
mkdir -p "$out"
# nuget 2.8.7 warns about a file outside lib/content/tools (runtimes/, which it predates);
# NuGet 3+ and .NET understand that folder.
nuget pack "$here/UstbOpenAI.nuspec" -BasePath "$stage" -OutputDirectory "$out" \
    -Version "$version" -NoPackageAnalysis -NonInteractive >"$stage/pack.log" 2>&1 ||
    { cat "$stage/pack.log" >&2; die "nuget pack failed"; }
echo "csharp pack: $out/UstbOpenAI.$version.nupkg"
