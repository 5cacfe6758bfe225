"""UDFC (Bai et al., ICCV 2023): data-free channel pruning and low-bit weights,
the damage rebuilt in the next layer in closed form. See docs/udfc.md."""
