obj-m := tpm_tis.o
