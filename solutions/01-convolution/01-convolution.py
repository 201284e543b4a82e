# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course/blob/main/notebooks/01-convolution/01-convolution.ipynb)
#
# # 01 · Convolution from scratch
#
# *Involution Course, assignment 01. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. write a 2-D convolution in NumPy, first with explicit loops and then vectorised, and check it against `keras.layers.Conv2D`;
# 2. compute a convolution's output size and parameter count from its hyper-parameters;
# 3. show numerically the two properties that involution will invert: convolution is *spatial-agnostic* (the same kernel at every position) and *channel-specific* (a different kernel for every output channel).
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you; hidden tests run when
# your notebook is graded.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab this installs the course package; elsewhere it only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:
    # %pip install -q "involution-course @ git+https://github.com/involution-course/involution-course"
    import involution_course as ic

profile = ic.setup_notebook()
