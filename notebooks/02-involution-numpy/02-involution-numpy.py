# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "ef267a16f1704d3aad67a8b8b69bd387", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course/blob/main/notebooks/02-involution-numpy/02-involution-numpy.ipynb)
#
# # 02 · Involution from scratch in NumPy
#
# *Involution Course, assignment 02. Time: about 2 hours.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. generate an involution kernel at every position from the input itself;
# 2. write the involution multiply-add with loops, then vectorised without a patch tensor;
# 3. derive and implement the backward pass, and verify it with a numerical gradient check;
# 4. count the parameters and multiply-adds of involution against convolution.
#
# Run the cells in order. Exercises are marked **Exercise**; write your answer where the cell says
# `# YOUR CODE HERE`, then run the tests below it. Visible tests help you; hidden tests run when
# your notebook is graded.

# %% nbgrader={"cell_type": "code", "checksum": "c1fecaf76ba5e4cb8a35416eab3cb2f9", "grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Set-up: on Colab this installs the course package; elsewhere it only imports it.
try:
    import involution_course as ic
except ModuleNotFoundError:
    # %pip install -q "involution-course @ git+https://github.com/involution-course/involution-course"
    import involution_course as ic

profile = ic.setup_notebook()
