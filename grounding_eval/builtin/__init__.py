"""The built-in plugins: registered through the same hooks as any third-party plugin.

The shipped task YAML files are found by the TaskManager itself (tasks/ in a checkout, the packaged
copy in a wheel), so there is no built-in tasks plugin.
"""
