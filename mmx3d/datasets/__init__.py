# Copyright (c) mmx3d contributors. All rights reserved.
