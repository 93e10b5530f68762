# lit configuration for the ds suite: dialects/, passes/, frontend/, tools/.
import os

import lit.formats

config.name = "ds"
config.test_format = lit.formats.ShTest(not lit_config.isWindows)
config.suffixes = [".mlir", ".test", ".json"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "unit", "gpu", "e2e", "fuzz", "fixtures", "Inputs", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ds_obj_root, "test")

config.substitutions.append(("%ds_src", config.ds_src_root))
config.substitutions.append(("%configs", os.path.join(config.ds_src_root, "models", "configs")))
config.substitutions.append(("%python", config.python_executable))

# Our tools first, then FileCheck, not and split-file from LLVM.
config.environment["PATH"] = os.pathsep.join(
    [config.ds_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
