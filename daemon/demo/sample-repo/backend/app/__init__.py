"""
[Task]: T001
[From]: speckit.plan §1.1
[Description]: The Todo API package.
"""
