from .x3d_head import X3DClsHead

__all__ = ['X3DClsHead']
