"""The one interface between the work and whoever runs it: the work reports to an Observer as it
goes and asks it for what an interrupted run saved. Every hook has one signature, and this base is a
complete observer: a run from scratch that leaves no trace (tests and benchmarks use it as it is)."""


class Observer:
    # --- what an earlier run saved -------------------------------------------------------------------
    def saved_state(self, job):
        """The optimizer state (ImageOptimizer.state(), plus "finished_at") the job was saved with."""
        return None

    def saved_canvas(self, job):
        """(canvas, tiles done, iterations) of a tiled pass, as tile_pasted left them."""
        return None

    def saved_frame(self, frame):
        """The picture a video's frame (1, 2, ...) was finished with, or None."""
        return None

    # --- progress ------------------------------------------------------------------------------------
    def job_started(self, job, step, to_output):
        """A whole pass or a tile starts, or goes on from `step`; to_output turns its optimized image
        into the picture the user sees."""

    def step(self, job, progress, optimizer):
        """After each iteration; optimizer.state() is what to save. Raising ends the run here."""

    def job_finished(self, job, state):
        """The job's last state, with "finished_at": the iterations it was asked for."""

    def tile_pasted(self, job, canvas):
        """The canvas of the pass after tile job.tile was pasted into it."""

    def frame_finished(self, frame, frames, picture):
        """A video's frame `frame` of `frames` is done: `picture` is what the user sees of it."""
