from .x3d_head import X3DClsHead
from .x3d_multilabel_head import X3DMultiLabelHead

__all__ = ['X3DClsHead', 'X3DMultiLabelHead']
