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

# %% [markdown] nbgrader={"cell_type": "markdown", "checksum": "39fc28e7e7ecb2f170e2fcf0a6c0eeb1", "grade": false, "grade_id": "intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/involution-course/involution-course/blob/main/notebooks/05-kernel-visualisation/05-kernel-visualisation.ipynb)
#
# # 05 · What involution kernels look at
#
# *Involution Course, assignment 05. Time: about 90 minutes.*
#
# ## Learning objectives
#
# By the end of this notebook you will be able to:
#
# 1. extract the kernels an involution network generates for an image, and reduce them to maps;
# 2. overlay those maps on the image and compare kernels across positions;
# 3. relate involution to local self-attention, and see how kernels change during training.
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
