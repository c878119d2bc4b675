# The arm64 build chroot (never shipped): compiles unix-dgram and, for the QEMU test kernel,
# tpm_tis.ko. Same archive and kernel as the root filesystem.
nodejs
libnode-dev
node-gyp
build-essential
python3
linux-headers-arm64
linux-source-6.12
xz-utils
