# Copyright (c) mmx3d contributors. All rights reserved.
from .drop_connect import DropConnect, drop_connect
from .se import SEModule
from .sub_batchnorm import SubBatchNorm3d
from .swish import Swish

__all__ = [
    'DropConnect', 'drop_connect', 'SEModule', 'SubBatchNorm3d', 'Swish'
]
