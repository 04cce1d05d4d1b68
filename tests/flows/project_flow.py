from metaflow import FlowSpec, current, get_metadata, project, schedule, step, trigger


@trigger(event="data_ready")
@schedule(daily=True)
@project(name="demo_proj")
class ProjectFlow(FlowSpec):
    @step
    def start(self):
        self.project = (current.project_name, current.branch_name, current.is_production, current.project_flow_name)
        self.where = get_metadata()
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ProjectFlow()
