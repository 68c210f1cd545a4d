"""What the work reports to as it goes, and asks for what an interrupted run saved."""


class Observer:
    """What the work reports to, and where it finds what an earlier run saved. This base saves
    nothing and has nothing saved: a run from scratch that leaves no trace."""

    def saved_state(self, job):
        """The optimizer state (ImageOptimizer.state(), plus "finished_at") the job was saved with."""
        return None

    def saved_canvas(self, job):
        """(canvas, tiles done, iterations) of a tiled pass, as tile_pasted left them."""
        return None

    def pass_started(self, job, to_output):
        """to_output turns the pass's optimized image into the picture the user sees."""

    def job_started(self, job, step):
        """A whole pass or a tile starts, or goes on from `step`."""

    def step(self, job, progress, optimizer):
        """After each iteration; optimizer.state() is what to save. Raising ends the run here."""

    def job_finished(self, job, state):
        """The job's last state, with "finished_at": the iterations it was asked for."""

    def tile_pasted(self, job, canvas):
        """The canvas of the pass after tile job.tile was pasted into it."""

    def saved_frame(self, frame):
        """The picture a video's frame (1, 2, ...) was finished with, or None."""
        return None

    def frame_finished(self, job, picture):
        """A video's frame job.frame is done: `picture` is what the user sees of it."""
